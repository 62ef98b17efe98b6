"""Topic guard rails, checked against the live cluster before any resource is registered.

pulumi-kafka (like the Terraform provider under it) recreates a topic whose partition count
goes down or whose replication factor changes, and recreating a topic deletes its records.
So the program compares every declared topic with the live one first and refuses such a
change with one message naming each topic and the opt-in, unless the model's spec opts in
(``topics.allowDestructiveChanges: true``). Partitions only grow otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from maas_iac.errors import InfrastructureError, TopicChangeRefused

__all__ = ["DeclaredTopic", "LiveTopic", "check_declared_topics", "live_topics"]

_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DeclaredTopic:
    """A topic as the program is about to declare it."""

    name: str
    partitions: int
    replication_factor: int
    owner: str
    """The model (or ``stack``) that declares it, for the message."""
    allow_destructive: bool = False


@dataclass(frozen=True)
class LiveTopic:
    """What the broker has."""

    partitions: int
    replication_factor: int


def live_topics(admin: object, names: Iterable[str]) -> dict[str, LiveTopic]:
    """The live topics among ``names`` (absent ones are not in the result).

    Raises :class:`InfrastructureError` when the cluster does not answer.
    """
    try:
        metadata = admin.list_topics(timeout=_TIMEOUT_S).topics  # type: ignore[attr-defined]
    except Exception as exc:  # confluent-kafka raises KafkaException with the reason
        raise InfrastructureError(f"Kafka does not answer ({exc}); is it running? (scripts/services status)") from None
    found = {}
    for name in names:
        topic = metadata.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            continue
        first = next(iter(topic.partitions.values()))
        found[name] = LiveTopic(partitions=len(topic.partitions), replication_factor=len(first.replicas))
    return found


def _reasons(declared: DeclaredTopic, live: LiveTopic) -> list[str]:
    reasons = []
    if declared.partitions < live.partitions:
        reasons.append(f"its partitions would go from {live.partitions} to {declared.partitions} "
                       "(Kafka can only add partitions)")
    if declared.replication_factor != live.replication_factor:
        reasons.append(f"its replication factor would change from {live.replication_factor} "
                       f"to {declared.replication_factor}")
    return reasons


def check_declared_topics(declared: Iterable[DeclaredTopic], live: Mapping[str, LiveTopic]) -> None:
    """Raise :class:`TopicChangeRefused` for every declared topic whose change would recreate
    it, unless its spec opts in."""
    refused = []
    for topic in declared:
        current = live.get(topic.name)
        if current is None or topic.allow_destructive:
            continue
        reasons = _reasons(topic, current)
        if reasons:
            refused.append(f"topic {topic.name} ({topic.owner}): {' and '.join(reasons)}")
    if refused:
        raise TopicChangeRefused(
            "; ".join(refused) + ". That means deleting and recreating the topic, which loses its records. "
            "Keep the live value, or set topics.allowDestructiveChanges: true in the model's spec to accept it")
