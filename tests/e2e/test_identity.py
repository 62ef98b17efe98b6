"""Identity is an API: a stack deployed by an earlier release upgrades without replacing anything.

A scratch stack is deployed with the program of :data:`IDENTITY_BASE` (the tree of that
commit, taken from Git), then previewed and updated on the same state with the program of this
checkout. Every resource must be ``same`` except the topics, which move from the old dynamic
provider to pulumi-kafka: adopted live (``import``), never recreated, their records kept. Both use the same serving base
image from the registry, so the test measures the control plane's identity (type tokens,
child names, inputs), not a new data-plane image, whose content rightly changes every tag.

When a change deliberately alters an existing resource (a new health check, say), it says so
in the README's upgrade notes and moves :data:`IDENTITY_BASE` to the commit before it, with
the reason in :data:`IDENTITY_BASE_WHY`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from maas_iac import type_tokens as tokens
from maas_iac.automation import PROJECT_ROOT, scratch_project, select_stack
from maas_iac.report.steps import StepCollector

from .conftest import KAFKA, REGISTRY, ExampleModels, changes, clean_leftovers

pytestmark = pytest.mark.integration

IDENTITY_BASE = "44f05d3d0fc07a6876013da6bee59e0128d2d6f0"
IDENTITY_BASE_WHY = "the last release before the control plane's typed seams and connection settings"
STACK = "identity"
PORT_OFFSET = 3000

CONFIG = {
    "maas:registry": REGISTRY,
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": {"bootstrapServers": KAFKA, "securityProtocol": "PLAINTEXT"},
    "maas:bindAddress": "127.0.0.1",
    "maas:portOffset": PORT_OFFSET,
    "maas:servingBaseImage": f"{REGISTRY}/maas-test/serving:identity-{IDENTITY_BASE[:12]}",
    "maas:routerImage": f"{REGISTRY}/maas/haproxy:2.6",
    "maas:protect": False,
    "maas:network": f"maas-{STACK}",
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: idm, owner: ml-platform}}
source:
  repository: {repo}
  ref: v1
  path: models/half_plus_two
  versions: {{policy: latest, count: 1}}
serving:
  replicas: 2
  ports: {{rest: 8501, grpc: 8500}}
  health: {{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 240, retries: 3}}
  drainSeconds: 2
"""
"""Valid for both releases: no section the earlier one does not know (and no ``topics`` section,
which would turn on this release's Kafka bridge)."""


def _base_image(tree: Path) -> str:
    """The serving image as IDENTITY_BASE built it (its own build script and data plane), pushed
    to the registry under a tag of that commit; built once per machine."""
    from maas_iac.clients.registry import manifest_digest

    image = CONFIG["maas:servingBaseImage"]
    repository, tag = image.split("/", 1)[1].split(":")
    if manifest_digest(REGISTRY, repository, tag) is None:
        env = {**os.environ, "SERVING_TAG": f"{repository}:{tag}", "MAAS_REGISTRY": REGISTRY, "PYTHON": sys.executable,
               "MAAS_ROOT": str(tree)}
        subprocess.run(["bash", str(tree / "scripts" / "build_serving_image.sh")], cwd=tree, env=env, check=True,
                       capture_output=True, timeout=1800)
    return image


def _base_tree(dest: Path) -> None:
    """The program of IDENTITY_BASE: its packages and schemas, exactly as committed."""
    archive = subprocess.run(["git", "archive", "--format=tar", IDENTITY_BASE], cwd=PROJECT_ROOT,
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.split("/")[0] in ("maas_iac", "maas_dataplane", "schemas", "scripts", "images",
                                               "requirements.txt", "requirements-serving-api.txt", "tools")]
        tar.extractall(dest, members=members, filter="data")


DELIBERATE = [
    # The topics move to the pulumi-kafka provider: adopted live (import), their old records
    # retired (delete, which leaves the broker alone), and the stack's kafka provider created.
    ("create", tokens.KAFKA_PROVIDER, "kafka"),
    *[("import", tokens.TOPIC, n) for n in ("idm-topics-requests", "idm-topics-predictions", "model-events")],
    *[("delete", tokens.LEGACY_TOPIC, n) for n in ("idm-topics-requests", "idm-topics-predictions", "model-events")],
    # The replicas' health check is the bash probe (no python3 in the image), and they carry
    # maas.role=replica: a rolling replacement.
    ("replace", tokens.CONTAINER, "idm-replicas-0"),
    ("replace", tokens.CONTAINER, "idm-replicas-1"),
    # The router publishes only inference and status: its configuration (in its environment) changes.
    ("replace", tokens.CONTAINER, "idm-router-haproxy"),
    # The sweeper's list of the stack's containers follows the replaced ones.
    ("update", tokens.CONTAINER_SWEEPER, "orphans"),
]
"""Every change this release makes to a stack deployed by IDENTITY_BASE, each in the README's
upgrade notes."""

TOPICS = (f"{STACK}.idm.requests", f"{STACK}.idm.predictions", f"{STACK}.model-events")
RECORDS = 50


def _topic_ids(admin) -> dict[str, str]:
    from confluent_kafka import TopicCollection

    futures = admin.describe_topics(TopicCollection(list(TOPICS)), request_timeout=15)
    return {name: str(f.result(timeout=15).topic_id) for name, f in futures.items()}


def _produce(n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": KAFKA, "enable.idempotence": True})
    for i in range(n):
        producer.produce(TOPICS[0], key=f"r{i}".encode(), value=b'{"instances": [[1.0]]}')
    assert producer.flush(30) == 0


def _count(topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"identity-{topic}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            total += high - low
        return total
    finally:
        consumer.close()


def _steps(stack, **kwargs):
    collector = StepCollector()
    stack.preview(on_output=lambda _line: None, on_event=collector, **kwargs)
    return collector.steps()


def test_a_stack_deployed_by_the_previous_release_upgrades_with_only_its_topics_adopted(
        tmp_path: Path, docker_client, kafka_admin, registry) -> None:
    clean_leftovers(docker_client, kafka_admin, STACK)
    models = ExampleModels(tmp_path / "models-repo")
    spec = {"idm.yaml": SPEC.format(repo=models.path)}
    state = {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "identity-test"}
    (tmp_path / "state").mkdir()

    old_dir = scratch_project(tmp_path / "old", STACK, CONFIG, spec)
    _base_tree(old_dir)
    _base_image(old_dir)
    new_dir = scratch_project(tmp_path / "new", STACK, CONFIG, spec)
    old = select_stack(STACK, old_dir, env=state)
    try:
        up = old.up(on_output=lambda _line: None)
        assert up.summary.result == "succeeded"
        _produce(RECORDS)
        ids = _topic_ids(kafka_admin)

        new = select_stack(STACK, new_dir, create=False, env=state)
        steps = [s for s in _steps(new) if s.op != "same"]
        by_op = sorted((s.op, s.type, s.name) for s in steps)
        assert by_op == sorted(DELIBERATE), (
            f"the program of this checkout changes a stack deployed by {IDENTITY_BASE} "
            f"({IDENTITY_BASE_WHY}) beyond the deliberate changes: {by_op}; add aliases, or say why in "
            "the README's upgrade notes and in DELIBERATE")
        replaced = {s.name: set(s.keys) for s in steps if s.op == "replace"}
        assert replaced == {"idm-replicas-0": {"healthcheck", "labels"}, "idm-replicas-1": {"healthcheck", "labels"},
                            "idm-router-haproxy": {"env"}}, replaced

        upgraded = new.up(on_output=lambda _line: None)
        assert upgraded.summary.result == "succeeded"
        assert _topic_ids(kafka_admin) == ids, "a topic was recreated"
        assert _count(TOPICS[0]) == RECORDS, "records were lost"
        types = [r["type"] for r in new.export_stack().deployment["resources"]]
        assert tokens.LEGACY_TOPIC not in types
        assert types.count(tokens.TOPIC) == 3

        again = [s for s in _steps(new) if s.op != "same"]
        assert again == [], f"a second preview after the upgrade is not empty: {[(s.op, s.urn) for s in again]}"
    finally:
        select_stack(STACK, new_dir, create=False, env=state).destroy(on_output=lambda _line: None)
        clean_leftovers(docker_client, kafka_admin, STACK)
