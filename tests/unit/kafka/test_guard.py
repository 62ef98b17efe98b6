"""Topic guard rails: declared topics against the live cluster, before anything is registered."""

from __future__ import annotations

import pytest

from maas_iac.errors import MaasError, TopicChangeRefused
from maas_iac.kafka.guard import DeclaredTopic, LiveTopic, check_declared_topics

LIVE = {"s.m.requests": LiveTopic(partitions=6, replication_factor=1)}


def _declared(partitions: int = 6, rf: int = 1, allow: bool = False) -> list[DeclaredTopic]:
    return [DeclaredTopic("s.m.requests", partitions, rf, owner="model m", allow_destructive=allow)]


@pytest.mark.parametrize("partitions, rf", [(6, 1), (9, 1)])
def test_same_or_more_partitions_pass(partitions: int, rf: int) -> None:
    check_declared_topics(_declared(partitions, rf), LIVE)


def test_a_new_topic_passes_whatever_it_declares() -> None:
    check_declared_topics([DeclaredTopic("s.m.predictions", 1, 3, owner="model m")], LIVE)


def test_fewer_partitions_are_refused_naming_topic_model_and_opt_in() -> None:
    with pytest.raises(TopicChangeRefused) as refused:
        check_declared_topics(_declared(partitions=3), LIVE)
    text = str(refused.value)
    assert "topic s.m.requests (model m): its partitions would go from 6 to 3 (Kafka can only add partitions)" in text
    assert "topics.allowDestructiveChanges: true" in text
    assert isinstance(refused.value, MaasError) and refused.value.exit_code == 2


def test_a_replication_factor_change_is_refused() -> None:
    with pytest.raises(TopicChangeRefused, match="replication factor would change from 1 to 3"):
        check_declared_topics(_declared(rf=3), LIVE)


def test_every_refused_topic_is_named_in_one_message() -> None:
    live = {**LIVE, "s.m.predictions": LiveTopic(4, 1)}
    declared = _declared(partitions=2) + [DeclaredTopic("s.m.predictions", 1, 2, owner="model m")]
    with pytest.raises(TopicChangeRefused) as refused:
        check_declared_topics(declared, live)
    assert "s.m.requests" in str(refused.value) and "s.m.predictions" in str(refused.value)
    assert "from 4 to 1" in str(refused.value) and "from 1 to 2" in str(refused.value)


def test_the_specs_opt_in_lets_the_change_through() -> None:
    check_declared_topics(_declared(partitions=1, rf=3, allow=True), LIVE)
