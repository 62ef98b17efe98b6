"""The kafka resource plugin (scripts/setup_kafka_plugin.sh) under the real engine.

Through the Automation API on a throwaway file backend, with an explicit pulumi_kafka.Provider
on the local PLAINTEXT broker: create a topic, grow it from 3 to 6 partitions in place, change a
config key in place, pick up a change made behind Pulumi's back with a refresh, destroy. The
broker is checked with confluent-kafka's AdminClient after each step.

Needs `scripts/setup_kafka_plugin.sh` (the plugin in $PULUMI_HOME) and `scripts/services start`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PLUGIN_VERSION = "3.12.3"


def _installed_plugin(pulumi: Path) -> Path:
    """The plugin binary `make setup` installed, as `pulumi plugin ls` in the project's
    PULUMI_HOME (scripts/env) lists it."""
    cache = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
    home = os.environ.get("PULUMI_HOME", str(cache / "pulumi-home"))
    listed = subprocess.run([str(pulumi), "plugin", "ls", "--json"], capture_output=True, text=True,
                            env={**os.environ, "PULUMI_HOME": home}, check=True).stdout
    if any((p["name"], p["kind"], p["version"]) == ("kafka", "resource", PLUGIN_VERSION)
           for p in json.loads(listed or "[]")):
        return Path(home) / "plugins" / f"resource-kafka-v{PLUGIN_VERSION}" / "pulumi-resource-kafka"
    pytest.fail(f"`pulumi plugin ls` (PULUMI_HOME={home}) does not list kafka {PLUGIN_VERSION}; "
                "run scripts/setup_kafka_plugin.sh", pytrace=False)


@pytest.fixture
def engine_env(engine_env: dict[str, str], pulumi_root: Path) -> dict[str, str]:
    """The throwaway PULUMI_HOME of the other engine tests, with the installed kafka plugin put
    into it by `pulumi plugin install --file`; the engine may not look for plugins elsewhere."""
    binary = _installed_plugin(pulumi_root / "bin" / "pulumi")
    env = {**engine_env, "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
    subprocess.run([str(pulumi_root / "bin" / "pulumi"), "plugin", "install", "resource", "kafka",
                    PLUGIN_VERSION, "--file", str(binary)], env={**os.environ, **env},
                   capture_output=True, check=True)
    return env


def _live(admin, name: str):
    """(partitions, retention.ms, cleanup.policy) of the topic on the broker, or None."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    topics = admin.list_topics(timeout=10).topics
    if name not in topics:
        return None
    resource = ConfigResource(ResourceType.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return len(topics[name].partitions), config["retention.ms"].value, config["cleanup.policy"].value


def _set_retention(admin, name: str, value: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    entry = ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)


class _Ops:
    """The engine's step operations per resource type, from the Automation API's event stream."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, event) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.seen.append((meta.type, str(meta.op.value if hasattr(meta.op, "value") else meta.op)))

    def of(self, type_: str) -> list[str]:
        ops, self.seen = [op for t, op in self.seen if t == type_], []
        return ops


def _topic_state(stack, urn_type: str = "kafka:index/topic:Topic") -> dict:
    [topic] = [r for r in stack.export_stack().deployment["resources"] if r["type"] == urn_type]
    return topic


def test_topic_lifecycle_through_the_kafka_plugin(inline_stack, kafka_admin, kafka_bootstrap):
    import pulumi
    import pulumi_kafka

    uid = uuid.uuid4().hex[:8]
    name = f"maas-it.{uid}.kafka-plugin"
    wanted = {"partitions": 3, "retention.ms": "3600000"}

    def program() -> None:
        provider = pulumi_kafka.Provider(
            "local", bootstrap_servers=[kafka_bootstrap], tls_enabled=False, timeout=60)
        topic = pulumi_kafka.Topic(
            "requests", name=name, partitions=wanted["partitions"], replication_factor=1,
            config={"retention.ms": wanted["retention.ms"], "cleanup.policy": "delete"},
            opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("topic", topic.name)
        pulumi.export("partitions", topic.partitions)

    stack = inline_stack(program, project=f"maas-it-kafka-{uid}")
    ops = _Ops()
    topic_type = "kafka:index/topic:Topic"

    # Create.
    up = stack.up(on_event=ops)
    assert ops.of(topic_type) == ["create"]
    assert up.outputs["topic"].value == name and up.outputs["partitions"].value == 3
    assert _live(kafka_admin, name) == (3, "3600000", "delete")
    preview = stack.preview(on_event=ops)
    assert ops.of(topic_type) == ["same"], preview.stdout

    # More partitions: an update in place, never a replacement.
    wanted["partitions"] = 6
    up = stack.up(on_event=ops)
    assert ops.of(topic_type) == ["update"], up.stdout
    assert {str(op): n for op, n in up.summary.resource_changes.items()} == {"update": 1, "same": 2}
    assert up.outputs["partitions"].value == 6
    assert _live(kafka_admin, name) == (6, "3600000", "delete")

    # One config key: also in place.
    wanted["retention.ms"] = "7200000"
    up = stack.up(on_event=ops)
    assert ops.of(topic_type) == ["update"], up.stdout
    assert _live(kafka_admin, name) == (6, "7200000", "delete")

    # A change behind Pulumi's back: the refresh reads it into the state, the next up restores
    # the declared value in place.
    _set_retention(kafka_admin, name, "60000")
    refresh = stack.refresh(on_event=ops)
    assert ops.of(topic_type) == ["refresh"], refresh.stdout
    assert {str(op): n for op, n in refresh.summary.resource_changes.items()}.get("update") == 1, refresh.stdout
    assert _topic_state(stack)["outputs"]["config"]["retention.ms"] == "60000"
    up = stack.up(on_event=ops)
    assert ops.of(topic_type) == ["update"], up.stdout
    assert _live(kafka_admin, name) == (6, "7200000", "delete")

    # Destroy: the broker deletes the topic (asynchronously, so allow it a few seconds).
    stack.destroy(on_event=ops)
    assert ops.of(topic_type) == ["delete"]
    deadline = time.monotonic() + 30
    while _live(kafka_admin, name) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _live(kafka_admin, name) is None
