"""The bridge's own principal (``topics.access.bridge``) under Pulumi mocks: the stack as the
program declares it, with exactly the bridge's ACLs, the bridge logging in as that user with
its ``kafkaUsers`` password as a secret, and its containers created after the ACLs and the
SCRAM credential."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from maas_iac import type_tokens as tokens
from maas_iac.clients import Connections
from maas_iac.errors import StackConfigError
from maas_iac.kafka.access import bridge_acl_rules
from maas_iac.plan import model_service_args
from maas_iac.program import declare
from maas_iac.resolve import Resolver
from maas_iac.spec import StackConfig, load_stack_config
from maas_iac.spec.model import (
    Bridge, LatestVersions, Metadata, ModelServiceSpec, Ports, Serving, Source, TopicAccess, TopicSpec, Topics,
)

ADMIN_PASSWORD = "admin-pw-from-the-engine"
BRIDGE_PASSWORD = "bridge-pw-from-the-engine"
APP_PASSWORD = "app-pw-from-the-engine"
PRINCIPAL = "User:hpt-bridge"
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""The key and value that mark a secret in the engine's wire format."""

SASL_STACK = {
    "registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
    "kafka": {"bootstrapServers": "kafka-1.staging.example.com:9093", "securityProtocol": "SASL_SSL",
              "saslMechanism": "SCRAM-SHA-512", "saslUsername": "maas-staging", "saslPassword": ADMIN_PASSWORD},
    "kafkaUsers": {"hpt-bridge": BRIDGE_PASSWORD, "app": APP_PASSWORD},
}
PLAINTEXT_STACK = {
    "registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
    "kafka": {"bootstrapServers": "127.0.0.1:9092"},
}


def _bridge_rows(stack: str) -> set[tuple[str, str, str, str]]:
    """(resource type, resource name, operation, pattern) of the bridge's rows on ``stack``
    (the rows themselves: tests/unit/kafka/test_access.py)."""
    rules = bridge_acl_rules(PRINCIPAL, requests=f"{stack}.hpt.requests", predictions=f"{stack}.hpt.predictions",
                             errors=f"{stack}.hpt.errors", group=f"{stack}.hpt.bridge")
    return {(r.resource_type, r.resource_name, r.operation, r.pattern) for r in rules}


def _spec(repo: Path, principal: str | None = PRINCIPAL) -> ModelServiceSpec:
    return ModelServiceSpec(
        metadata=Metadata(name="hpt"),
        source=Source(repository=str(repo), ref="main", path="models/m", versions=LatestVersions()),
        serving=Serving(ports=Ports(rest=8501, grpc=8500), base_image="serving:1", replicas=1),
        topics=Topics(requests=TopicSpec(partitions=2),
                      access=TopicAccess(produce_requests=("User:app",), bridge=principal)),
        bridge=Bridge(enabled=True, consumers=2))


def _stack(config: dict[str, Any], name: str) -> StackConfig:
    return load_stack_config(config, stack=name)


def _declare(stack: StackConfig, spec: ModelServiceSpec, tmp_path: Path) -> None:
    model = Resolver(tmp_path / "cache").resolve(spec, stack)

    @pulumi.runtime.test
    def run():
        services = declare(stack, Connections.from_stack(stack), [model])
        return pulumi.Output.all(*[s.container_ids for s in services])

    run()


def _acls(regs) -> list:
    return [r for r in regs if r.type_ == tokens.KAFKA_ACL]


def _bridge_containers(regs) -> list:
    found = sorted((r for r in regs if r.type_ == tokens.CONTAINER and r.parent
                    and r.parent.endswith(f"{tokens.BRIDGE}::hpt-bridge")), key=lambda r: r.name)
    assert [r.name for r in found] == ["hpt-bridge-0", "hpt-bridge-1"]
    return found


def _plain_strings(value: Any) -> list[str]:
    """Every string an input holds outside a secret envelope."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            return []
        return [s for k, v in value.items() for s in (str(k), *_plain_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _plain_strings(v)]
    return [value] if isinstance(value, str) else []


def test_the_bridge_principal_gets_exactly_the_bridges_acls(mocks, model_repo, tmp_path) -> None:
    _declare(_stack(SASL_STACK, "staging"), _spec(model_repo.path), tmp_path)
    acls = _acls(mocks.registrations)
    bridge = [r for r in acls if r.inputs["aclPrincipal"] == PRINCIPAL]
    rows = {(r.inputs["aclResourceType"], r.inputs["aclResourceName"], r.inputs["aclOperation"],
             r.inputs["resourcePatternTypeFilter"]) for r in bridge}
    assert len(bridge) == len(rows) == 9
    assert rows == _bridge_rows("staging")
    assert not any(row[0] == "Cluster" for row in rows), "no IdempotentWrite: TransactionalId Write suffices"
    for r in bridge:
        assert (r.inputs["aclPermissionType"], r.inputs["aclHost"]) == ("Allow", "*")
        assert r.name.startswith("hpt-topics-acl-hpt-bridge-bridge-")
        assert r.parent.endswith(f"{tokens.MODEL_TOPICS}::hpt-topics")
        assert f"{tokens.KAFKA_PROVIDER}::kafka::" in r.provider
    # produceRequests keeps its rows and their names
    app = {r.name for r in acls if r.inputs["aclPrincipal"] == "User:app"}
    assert app == {"hpt-topics-acl-app-topic-write", "hpt-topics-acl-app-topic-describe"}
    assert len({r.name for r in acls}) == len(acls)


def test_the_bridge_logs_in_as_its_principal_with_the_password_a_secret(mocks, model_repo, tmp_path) -> None:
    _declare(_stack(SASL_STACK, "staging"), _spec(model_repo.path), tmp_path)
    for r in _bridge_containers(mocks.registrations):
        env = r.inputs["env"]
        assert env["MAAS_BRIDGE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["MAAS_BRIDGE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["MAAS_BRIDGE_KAFKA_SASL_USERNAME"] == "hpt-bridge"
        assert env["MAAS_BRIDGE_SASL_PASSWORD"] == BRIDGE_PASSWORD
        assert r.is_secret("env", "MAAS_BRIDGE_SASL_PASSWORD")
        assert ADMIN_PASSWORD not in json.dumps(r.inputs), "the bridge no longer holds the stack's own password"
    for r in mocks.registrations:
        leaked = [s for s in _plain_strings(r.raw) if BRIDGE_PASSWORD in s]
        assert not leaked, f"{r.name}: the bridge's password outside a secret"
    [credential] = [r for r in mocks.registrations if r.name == "kafka-user-hpt-bridge"]
    assert credential.type_ == tokens.KAFKA_SCRAM_USER and credential.is_secret("password")


def test_the_containers_are_created_after_the_acls_and_the_credential(mocks, model_repo, tmp_path) -> None:
    _declare(_stack(SASL_STACK, "staging"), _spec(model_repo.path), tmp_path)
    regs = mocks.registrations
    needed = {r.urn for r in _acls(regs) if r.inputs["aclPrincipal"] == PRINCIPAL}
    needed |= {r.urn for r in regs if r.name == "kafka-user-hpt-bridge"}
    assert len(needed) == 10
    for r in _bridge_containers(regs):
        assert needed <= set(r.dependencies), f"{r.name} may start before its ACLs or its login exist"
        other_users = {x.urn for x in regs if x.name == "kafka-user-app"}
        assert not other_users & set(r.dependencies)


def test_on_plaintext_the_principal_only_gets_its_acls(mocks, model_repo, tmp_path) -> None:
    _declare(_stack(PLAINTEXT_STACK, "local"), _spec(model_repo.path), tmp_path)
    regs = mocks.registrations
    bridge = [r for r in _acls(regs) if r.inputs["aclPrincipal"] == PRINCIPAL]
    assert {(r.inputs["aclResourceType"], r.inputs["aclResourceName"], r.inputs["aclOperation"],
             r.inputs["resourcePatternTypeFilter"]) for r in bridge} == _bridge_rows("local")
    for r in _bridge_containers(regs):
        env = r.inputs["env"]
        assert env["MAAS_BRIDGE_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
        assert not {"MAAS_BRIDGE_KAFKA_SASL_USERNAME", "MAAS_BRIDGE_SASL_PASSWORD"} & set(env)
        assert {a.urn for a in bridge} <= set(r.dependencies)


def test_without_a_principal_the_bridge_is_as_before(mocks, model_repo, tmp_path) -> None:
    _declare(_stack(SASL_STACK, "staging"), _spec(model_repo.path, principal=None), tmp_path)
    regs = mocks.registrations
    assert {r.name for r in _acls(regs)} == {"hpt-topics-acl-app-topic-write", "hpt-topics-acl-app-topic-describe"}
    kafka_resources = {r.urn for r in regs if r.type_ in (tokens.KAFKA_ACL, tokens.KAFKA_SCRAM_USER)}
    for r in _bridge_containers(regs):
        assert r.inputs["env"]["MAAS_BRIDGE_KAFKA_SASL_USERNAME"] == "maas-staging"
        assert r.inputs["env"]["MAAS_BRIDGE_SASL_PASSWORD"] == ADMIN_PASSWORD and r.is_secret(
            "env", "MAAS_BRIDGE_SASL_PASSWORD")
        assert not kafka_resources & set(r.dependencies), "no new dependencies: the registrations are unchanged"


def test_planning_a_principal_the_stack_lacks_is_a_stack_config_error(model_repo, tmp_path) -> None:
    """The spec checks refuse it first; planning without them says the same, not a KeyError."""
    stack = _stack({**SASL_STACK, "kafkaUsers": {"app": APP_PASSWORD}}, "staging")
    model = Resolver(tmp_path / "cache").resolve(_spec(model_repo.path), stack)
    with pytest.raises(StackConfigError) as err:
        model_service_args(model, stack, Connections.from_stack(stack), "maas-staging", "staging.model-events")
    [problem] = err.value.problems
    assert problem.json_path == "$.topics.access.bridge" and "maas:kafkaUsers.hpt-bridge" in problem.fix


PROGRAM_SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: {name}}}
source: {{repository: {repo}, ref: main, path: models/m}}
serving: {{replicas: 1, ports: {{rest: {rest}, grpc: {grpc}}}}}
topics:
  access:
    bridge: User:{name}-bridge
"""


def test_the_program_refuses_a_principal_its_sasl_stack_lacks_before_declaring_anything(
        mocks, model_repo, program_inputs) -> None:
    config = {"maas:registry": "127.0.0.1:5000", "maas:dockerHost": "unix:///var/run/docker.sock",
              "maas:kafka": json.dumps(SASL_STACK["kafka"]), "maas:kafkaUsers": json.dumps({"a-bridge": "pw"})}
    program_inputs(PROGRAM_SPEC, config, model_repo.path)
    from maas_iac.program import main

    @pulumi.runtime.test
    def run():
        main()
        return pulumi.Output.from_input(True)

    with pytest.raises(pulumi.RunError) as err:
        run()
    text = str(err.value)
    assert "b.yaml:" in text and "$.topics.access.bridge" in text and "a.yaml" not in text
    assert "pulumi config set --stack local --secret --path 'maas:kafkaUsers.b-bridge' <password>" in text
    assert not [r for r in mocks.registrations if r.type_ != "pulumi:pulumi:Stack"]  # nothing declared
