"""The retired topic provider and the event provider's diff, on plain dicts.

Topics are pulumi-kafka resources now (their guard rails: tests/unit/kafka/test_guard.py); the
old dynamic provider only retires the records of stacks deployed before, and must never touch
the broker doing so.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc

from maas_iac.events.producer import _EventProvider
from maas_iac.providers.kafka_topic import TopicProvider

UNKNOWN = rpc.UNKNOWN

OLD_TOPIC = {"name": "local.m.requests", "partitions": 3.0, "replication_factor": 1.0,
             "bootstrap_servers": "127.0.0.1:1", "config": {"retention.ms": "604800000"}}
"""An old record; its broker address is unreachable, so any Kafka call would fail the test."""


def test_retiring_an_old_topic_record_leaves_the_broker_alone() -> None:
    assert TopicProvider().delete("local.m.requests", dict(OLD_TOPIC)) is None


def test_a_refresh_keeps_the_old_record_as_it_is() -> None:
    result = TopicProvider().read("local.m.requests", dict(OLD_TOPIC))
    assert (result.id, result.outs) == ("local.m.requests", OLD_TOPIC)


# -- ModelVersionEvent.diff --------------------------------------------------------------------


def event(**changes: Any) -> dict[str, Any]:
    props = {"bootstrap_servers": "127.0.0.1:9092", "topic": "local.model-events", "model": "m", "stack": "local",
             "git_sha": "a" * 40, "repository": "/srv/models/m", "digest": "sha256:" + "d" * 64,
             "image": "127.0.0.1:5000/maas/m@sha256:" + "ab" * 32, "versions": [1.0], "replicas": 2.0,
             "kafka": {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}}
    props.update(changes)
    return props


@pytest.mark.parametrize("key, value", [
    ("topic", "local.other-events"), ("model", "n"), ("stack", "staging"), ("git_sha", "b" * 40),
    ("repository", "/srv/models/n"), ("digest", "sha256:" + "e" * 64),
    ("image", "127.0.0.1:5000/maas/m@sha256:" + "cd" * 32), ("versions", [1.0, 2.0]), ("replicas", 3.0),
    ("image", UNKNOWN),
])
def test_an_identity_change_is_one_update_never_a_replacement(key: str, value: Any) -> None:
    result = _EventProvider().diff("local/m", event(), event(**{key: value}))
    assert result.changes and result.replaces == [] and not result.delete_before_replace


@pytest.mark.parametrize("key, value", [
    ("bootstrap_servers", "127.0.0.2:9092"), ("kafka", {"bootstrap_servers": "127.0.0.2:9092"}), ("kafka", None),
])
def test_connection_details_produce_no_event(key: str, value: Any) -> None:
    result = _EventProvider().diff("local/m", event(), event(**{key: value}))
    assert (result.changes, result.replaces) == (False, [])
