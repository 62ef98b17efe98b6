"""``topics.access.bridge``: the principal the bridge connects as, read from the spec and checked
against each stack (a SASL stack must hold its password in ``maas:kafkaUsers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.spec import load_stack_config, messages as M, validate_paths
from maas_iac.spec.build import build_spec

BASE = {
    "apiVersion": "maas-iac/v1", "kind": "ModelService", "metadata": {"name": "m"},
    "source": {"repository": "/srv/git/m", "ref": "main"}, "serving": {"ports": {"rest": 1, "grpc": 2}},
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: m}}
source: {{repository: /srv/git/m, ref: main}}
serving: {{ports: {{rest: 1, grpc: 2}}}}
topics:
  access:
    produceRequests: ["User:app"]
    bridge: User:m-bridge
bridge: {{enabled: {enabled}}}
"""

STACK = """config:
  maas:registry: registry.example.com
  maas:dockerHost: ssh://deploy@docker-1.example.com
  maas:kafka:
    bootstrapServers: kafka-1.example.com:9093
    securityProtocol: {protocol}
    {sasl}
  maas:kafkaUsers:
    {user}:
      secure: v1:cGxhY2Vob2xkZXI=:cGxhY2Vob2xkZXI=
"""
SASL = ("saslMechanism: SCRAM-SHA-512\n    saslUsername: maas-staging\n"
        "    saslPassword: {secure: 'v1:cGxhY2Vob2xkZXI=:cGxhY2Vob2xkZXI='}")


def _files(tmp_path: Path, *, user: str, protocol: str = "SASL_SSL", enabled: str = "true") -> list[Path]:
    spec = tmp_path / "models" / "m.yaml"
    stack = tmp_path / "stacks" / "Pulumi.staging.yaml"
    for path in (spec, stack):
        path.parent.mkdir(exist_ok=True)
    spec.write_text(SPEC.format(enabled=enabled))
    stack.write_text(STACK.format(protocol=protocol, user=user, sasl=SASL if protocol == "SASL_SSL" else ""))
    return [spec, stack]


def test_the_bridge_principal_is_read_and_optional() -> None:
    assert build_spec(BASE).topics.access.bridge is None
    spec = build_spec({**BASE, "topics": {"access": {"bridge": "User:m-bridge", "readPredictions": ["User:d"]}}})
    assert spec.topics.access.bridge == "User:m-bridge"
    assert spec.topics.access.read_predictions == ("User:d",)


@pytest.mark.parametrize("value", ["m-bridge", "User:", "Group:m", ["User:m-bridge"], "User:a b"])
def test_the_schema_takes_one_user_principal_only(tmp_path: Path, value) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(SPEC.format(enabled="true").replace("bridge: User:m-bridge", f"bridge: {value!r}"
                                                        if isinstance(value, str) else f"bridge: {value}"))
    (problem,) = validate_paths([path]).problems
    assert problem.json_path == "$.topics.access.bridge"


def test_a_sasl_stack_without_the_user_refuses_the_spec_naming_file_field_and_fix(tmp_path: Path) -> None:
    spec, stack = _files(tmp_path, user="someone-else")
    (problem,) = validate_paths([spec, stack]).problems
    assert problem.file == str(spec) and problem.line == 9
    assert problem.json_path == "$.topics.access.bridge"
    assert problem.message == M.BRIDGE_PRINCIPAL_NOT_A_STACK_USER.format(principal="User:m-bridge", stack="staging",
                                                                         where=str(stack))
    assert "pulumi config set --stack staging --secret --path 'maas:kafkaUsers.m-bridge' <password>" in problem.fix
    assert "remove topics.access.bridge" in problem.fix


def test_a_sasl_stack_holding_the_user_accepts_it(tmp_path: Path) -> None:
    assert not validate_paths(_files(tmp_path, user="m-bridge")).problems


def test_a_plaintext_stack_needs_no_user_the_principal_only_gets_acls(tmp_path: Path) -> None:
    assert not validate_paths(_files(tmp_path, user="someone-else", protocol="PLAINTEXT")).problems


def test_a_disabled_bridge_is_not_checked(tmp_path: Path) -> None:
    assert not validate_paths(_files(tmp_path, user="someone-else", enabled="false")).problems


def test_the_program_checks_its_own_stack_too(tmp_path: Path) -> None:
    """The Pulumi program passes the stack it deploys (decrypted, from no file)."""
    spec, _ = _files(tmp_path, user="x")
    config = {"registry": "registry.example.com", "dockerHost": "ssh://deploy@docker-1.example.com",
              "kafka": {"bootstrapServers": "kafka-1:9093", "securityProtocol": "SASL_SSL",
                        "saslMechanism": "SCRAM-SHA-512", "saslUsername": "maas", "saslPassword": "pw"},
              "kafkaUsers": {"x": "pw-x"}}
    without = load_stack_config(config, stack="staging")
    (problem,) = validate_paths([spec], stacks=[without]).problems
    assert (problem.file, problem.json_path) == (str(spec), "$.topics.access.bridge")
    with_user = load_stack_config({**config, "kafkaUsers": {"m-bridge": "pw-b"}}, stack="staging")
    assert not validate_paths([spec], stacks=[with_user]).problems
