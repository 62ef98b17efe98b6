"""Kafka security end to end, on the broker's SASL_SSL listener (SCRAM-SHA-512 over TLS, ACLs).

A scratch stack whose Kafka settings are the SASL_SSL listener, its admin user and password
(a Pulumi secret), three SCRAM users of its own (``kafkaUsers``), and one model whose spec lets
only the first produce requests and has its bridge connect as the third. After ``up``: the
topics exist, the deployment event was produced, the second user is refused
(``TOPIC_AUTHORIZATION_FAILED``) and the first allowed, the bridge, logged in as its own user
with only the bridge's ACLs, answers the request, and no password appears in plain text in the
exported state or in anything the engine printed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi import automation as auto

from maas_iac.automation import scratch_project, select_stack

from .conftest import REGISTRY, ExampleModels, clean_leftovers

pytestmark = pytest.mark.integration

CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
SASL = os.environ.get("MAAS_KAFKA_SASL_BOOTSTRAP", "127.0.0.1:9094")
CA = CACHE / "pki" / "ca.crt"
ADMIN_PASSWORD = CACHE / "secrets" / "kafka-admin.password"
STACK = "sasl"

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: sec}}
source: {{repository: {repo}, ref: v1, path: models/half_plus_two}}
serving:
  replicas: 1
  ports: {{rest: 8501, grpc: 8500}}
  health: {{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 240, retries: 3}}
  drainSeconds: 1
topics:
  requests: {{partitions: 2}}
  predictions: {{partitions: 2}}
  access:
    produceRequests: ["User:{app}"]
    bridge: "User:{bridge}"
"""


def _client(user: str, password: str) -> dict[str, str]:
    return {"bootstrap.servers": SASL, "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password, "ssl.ca.location": str(CA)}


def _produce(config: dict[str, str], topic: str) -> str | None:
    """Produce one record; the error's code name, or None when it was acknowledged."""
    from confluent_kafka import Producer

    errors: list[str] = []
    producer = Producer({**config, "message.timeout.ms": 15000, "log_level": 0})
    producer.produce(topic, key=b"k", value=b'{"instances": [[1.0]]}',
                     on_delivery=lambda err, _msg: errors.append(err.name()) if err else None)
    producer.flush(20)
    return errors[0] if errors else None


def _events(config: dict[str, str], topic: str) -> list[str]:
    from confluent_kafka import Consumer

    consumer = Consumer({**config, "group.id": f"{STACK}.sec.test-{secrets.token_hex(3)}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    keys: list[str] = []
    try:
        for _ in range(30):
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                keys.append(msg.key().decode())
                break
    finally:
        consumer.close()
    return keys


def _answer(config: dict[str, str], topic: str, key: str, timeout: float = 180) -> dict | None:
    """The committed prediction for ``key`` (JSON), or None when none arrived within ``timeout``."""
    import json
    import time

    from confluent_kafka import Consumer

    consumer = Consumer({**config, "group.id": f"{STACK}.sec.test-{secrets.token_hex(3)}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error() and msg.key() == key.encode():
                return json.loads(msg.value())
        return None
    finally:
        consumer.close()


def test_topics_acls_and_secrets_on_the_sasl_ssl_listener(tmp_path: Path, docker_client, kafka_admin, registry) -> None:
    assert CA.is_file() and ADMIN_PASSWORD.is_file(), "the SASL_SSL listener is not set up: run scripts/services start"
    admin_password = ADMIN_PASSWORD.read_text().strip()
    app, intruder, bridge = (f"{role}-{secrets.token_hex(3)}" for role in ("app", "intruder", "bridge"))
    app_password, intruder_password, bridge_password = (secrets.token_urlsafe(18) for _ in range(3))
    clean_leftovers(docker_client, kafka_admin, STACK)
    models = ExampleModels(tmp_path / "models-repo")
    config = {
        "maas:registry": REGISTRY,
        "maas:dockerHost": "unix:///var/run/docker.sock",
        "maas:bindAddress": "127.0.0.1",
        "maas:portOffset": 3500,
        "maas:servingBaseImage": f"{REGISTRY}/maas/serving:2.21.0",
        "maas:routerImage": f"{REGISTRY}/maas/haproxy:2.6",
        "maas:protect": False,
    }
    project = scratch_project(tmp_path / "project", STACK, config,
                              {"sec.yaml": SPEC.format(repo=models.path, app=app, bridge=bridge)})
    env = {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "sasl-test"}
    (tmp_path / "state").mkdir()
    stack = select_stack(STACK, project, env=env)
    for key, value in (("bootstrapServers", SASL), ("securityProtocol", "SASL_SSL"),
                       ("saslMechanism", "SCRAM-SHA-512"), ("saslUsername", "admin"), ("caFile", str(CA))):
        stack.set_config(f"maas:kafka.{key}", auto.ConfigValue(value), path=True)
    stack.set_config("maas:kafka.saslPassword", auto.ConfigValue(admin_password, secret=True), path=True)
    stack.set_config(f"maas:kafkaUsers.{app}", auto.ConfigValue(app_password, secret=True), path=True)
    stack.set_config(f"maas:kafkaUsers.{intruder}", auto.ConfigValue(intruder_password, secret=True), path=True)
    stack.set_config(f"maas:kafkaUsers.{bridge}", auto.ConfigValue(bridge_password, secret=True), path=True)
    printed: list[str] = []
    try:
        up = stack.up(on_output=printed.append)
        assert up.summary.result == "succeeded"

        requests, events = f"{STACK}.sec.requests", f"{STACK}.model-events"
        as_admin = _client("admin", admin_password)
        assert _events(as_admin, events) == ["sec"], "the deployment event was not produced over SASL_SSL"
        assert _produce(_client(intruder, intruder_password), requests) == "TOPIC_AUTHORIZATION_FAILED"
        assert _produce(_client(app, app_password), requests) is None
        # The bridge logs in as its own user, which has only the bridge's ACLs, and answers.
        [container] = docker_client.containers.list(filters={"label": [f"maas.stack={STACK}", "maas.role=bridge"]})
        bridge_env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        assert bridge_env["MAAS_BRIDGE_KAFKA_SASL_USERNAME"] == bridge
        assert bridge_env["MAAS_BRIDGE_SASL_PASSWORD"] == bridge_password
        assert admin_password not in " ".join(container.attrs["Config"]["Env"])
        answer = _answer(as_admin, f"{STACK}.sec.predictions", "k")
        assert answer is not None and "predictions" in answer, f"no answer from the bridge as User:{bridge}: {answer}"

        # `pulumi stack export` as an operator runs it (the Automation API's export_stack shows secrets).
        exported = subprocess.run(["pulumi", "stack", "export", "--stack", STACK], cwd=project, check=True,
                                  capture_output=True, text=True, env={**os.environ, **env}).stdout
        state_file = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
        stack_file = (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
        drift_env = {**os.environ, **env}
        drift = subprocess.run([sys.executable, "-c", "import sys; from maas_iac.cli.main import main; sys.exit(main())",
                                "drift", "--stack", STACK, "--cwd", str(project)],
                               capture_output=True, text=True, env=drift_env, timeout=600)
        assert drift.returncode == 0, f"maas drift over SASL_SSL: {drift.returncode}: {drift.stdout}{drift.stderr}"
        printed.append(drift.stdout + drift.stderr)
        engine_output = "".join(printed)
        logs = "".join(p.read_text(errors="replace") for p in (CACHE / "logs").glob("*.log"))
        for password in (admin_password, app_password, intruder_password, bridge_password):
            for where, text in (("the exported state", exported), ("the state file", state_file),
                                ("the stack file", stack_file), ("the engine's output", engine_output),
                                ("the service logs", logs)):
                if password in text:
                    at = text.index(password)
                    context = text[max(0, at - 300):at].replace(password, "<password>")
                    raise AssertionError(f"a password is in plain text in {where}, after: ...{context}")
    finally:
        stack.destroy(on_output=lambda _line: None)
        clean_leftovers(docker_client, kafka_admin, STACK)
