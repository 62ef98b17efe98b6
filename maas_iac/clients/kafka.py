"""The one Kafka client factory (confluent-kafka)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maas_iac.clients.endpoints import KafkaEndpoint

__all__ = ["GroupLag", "admin_client", "bridge_lag", "group_lag", "producer"]

_QUIET = {"log_level": 4}
"""librdkafka logs warnings and worse only; its info lines would clutter the engine's output."""


def admin_client(endpoint: KafkaEndpoint, timeout_ms: int = 10_000) -> Any:
    """An AdminClient for ``endpoint``."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({**endpoint.client_config(), "socket.timeout.ms": timeout_ms, **_QUIET})


def producer(endpoint: KafkaEndpoint, **settings: Any) -> Any:
    """A Producer for ``endpoint`` with extra librdkafka ``settings`` (dots as in librdkafka)."""
    from confluent_kafka import Producer

    return Producer({**endpoint.client_config(), **_QUIET, **settings})


@dataclass(frozen=True)
class GroupLag:
    """A consumer group on one topic: its members and how far behind the topic's end it is."""

    group: str
    topic: str
    state: str
    """The coordinator's word for the group: ``stable``, ``empty`` (no member), ``dead`` (no such
    group), ``preparing rebalancing``, …"""
    members: int
    partitions: tuple[tuple[int, int, int], ...]
    """``(partition, committed offset, end offset)`` per partition of ``topic``; a partition the
    group never committed counts from its earliest record."""

    @property
    def lag(self) -> int:
        """Records of ``topic`` the group has not committed past."""
        return sum(max(0, end - committed) for _, committed, end in self.partitions)

    def describe(self) -> str:
        """``group local.m.bridge: 2 members (stable), lag 0``."""
        members = f"{self.members} member{'' if self.members == 1 else 's'}"
        return f"group {self.group}: {members} ({self.state}), lag {self.lag}"


def group_lag(admin: Any, group: str, topic: str, timeout_s: float = 10) -> GroupLag:
    """``group``'s members and committed offsets on ``topic`` against its end offsets (read
    committed, as the bridge reads). Raises ``confluent_kafka.KafkaException`` when the cluster
    does not answer."""
    from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    meta = admin.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if meta is None or meta.error is not None:
        return GroupLag(group, topic, "no topic", 0, ())
    numbers = sorted(meta.partitions)
    description = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result(timeout_s)
    committed_tps = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in numbers])],
        request_timeout=timeout_s)[group].result(timeout_s).topic_partitions
    committed = {tp.partition: tp.offset for tp in committed_tps if tp.error is None}

    def offsets(spec: Any) -> dict[int, int]:
        futures = admin.list_offsets({TopicPartition(topic, p): spec for p in numbers},
                                     isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout_s)
        return {tp.partition: f.result(timeout_s).offset for tp, f in futures.items()}

    ends = offsets(OffsetSpec.latest())
    earliest = offsets(OffsetSpec.earliest()) if any(committed.get(p, -1) < 0 for p in numbers) else {}
    rows = tuple((p, committed[p] if committed.get(p, -1) >= 0 else earliest[p], ends[p]) for p in numbers)
    state = description.state.name.lower().replace("_", " ")
    return GroupLag(group, topic, state, len(description.members), rows)


def bridge_lag(admin: Any, stack: str, model: str, timeout_s: float = 10) -> GroupLag:
    """:func:`group_lag` of ``model``'s bridge group on its requests topic, on ``stack``."""
    from maas_iac.spec.naming import bridge_group, topic_names

    return group_lag(admin, bridge_group(stack, model), topic_names(stack, model).requests, timeout_s)
