"""The topic provider's guard rails and the event provider's diff, on plain dicts.

``check`` refuses what would delete a topic's data unless the topic opts in; ``diff`` turns
what is allowed into an in-place update or a delete-first replacement.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc

from maas_iac.events.producer import _EventProvider
from maas_iac.providers.kafka_topic import TopicProvider

UNKNOWN = rpc.UNKNOWN


def topic(**changes: Any) -> dict[str, Any]:
    props = {"name": "local.m.requests", "partitions": 3.0, "replication_factor": 1.0,
             "bootstrap_servers": "127.0.0.1:9092", "config": {"retention.ms": "604800000"},
             "allow_destructive": False, "kafka": {"bootstrap_servers": "127.0.0.1:9092",
                                                   "security_protocol": "PLAINTEXT"}}
    props.update(changes)
    return props


def outputs(props: dict[str, Any]) -> dict[str, Any]:
    """What create stored (TopicProvider._outs)."""
    return TopicProvider._outs(props)


def failures(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in TopicProvider().check(olds, news).failures}


def diff(olds: dict[str, Any], news: dict[str, Any]):
    return TopicProvider().diff(news.get("name", "t"), olds, news)


# -- check ------------------------------------------------------------------------------------


def test_a_new_topic_and_unchanged_inputs_pass() -> None:
    assert failures({}, topic()) == {}
    assert failures(topic(), topic()) == {}
    assert TopicProvider().check({}, topic()).inputs == topic()


@pytest.mark.parametrize("key, value", [
    ("partitions", 0), ("partitions", -1), ("partitions", 2.5), ("partitions", "3"), ("partitions", True),
    ("replication_factor", 0), ("replication_factor", None),
])
def test_counts_must_be_positive_integers(key: str, value: Any) -> None:
    assert list(failures({}, topic(**{key: value}))) == [key]


def test_a_partition_decrease_is_refused_without_the_opt_in() -> None:
    reasons = failures(topic(), topic(partitions=1))
    assert list(reasons) == ["allow_destructive"]
    assert "reducing partitions of 'local.m.requests' from 3 to 1" in reasons["allow_destructive"]
    assert "loses its data" in reasons["allow_destructive"]
    assert failures(topic(), topic(partitions=1, allow_destructive=True)) == {}


def test_a_replication_factor_change_is_refused_without_the_opt_in() -> None:
    reasons = failures(topic(), topic(replication_factor=3))
    assert "changing the replication factor of 'local.m.requests' from 1.0 to 3" in reasons["allow_destructive"]
    assert failures(topic(), topic(replication_factor=3, allow_destructive=True)) == {}


def test_a_rename_is_refused_without_the_opt_in() -> None:
    reasons = failures(topic(), topic(name="local.m.requests-v2"))
    assert "renaming topic 'local.m.requests' to 'local.m.requests-v2'" in reasons["allow_destructive"]
    assert failures(topic(), topic(name="local.m.requests-v2", allow_destructive=True)) == {}


def test_every_reason_is_named_at_once() -> None:
    reason = failures(topic(), topic(name="x", partitions=1, replication_factor=2))["allow_destructive"]
    assert all(part in reason for part in ("renaming", "reducing partitions", "replication factor"))


def test_growth_and_config_changes_pass_check() -> None:
    assert failures(topic(), topic(partitions=6)) == {}
    assert failures(topic(), topic(config={"retention.ms": "1000"})) == {}


def test_unknowns_pass_check() -> None:
    # The name or counts may be unknown in a preview: nothing can be refused yet.
    for news in (topic(partitions=UNKNOWN), topic(name=UNKNOWN, partitions=1), topic(replication_factor=UNKNOWN)):
        assert failures(topic(), news) == {}


# -- diff -------------------------------------------------------------------------------------


def test_unchanged_is_no_change() -> None:
    result = diff(outputs(topic()), topic())
    assert (result.changes, result.replaces) == (False, [])


def test_a_partition_increase_is_in_place() -> None:
    result = diff(outputs(topic()), topic(partitions=6))
    assert result.changes and result.replaces == [] and not result.delete_before_replace


def test_a_config_change_is_in_place() -> None:
    for config in ({"retention.ms": "1000"}, {}, {"retention.ms": "604800000", "cleanup.policy": "compact"}):
        result = diff(outputs(topic()), topic(config=config))
        assert result.changes and result.replaces == []
    # Values are compared as strings: 604800000 is the stored "604800000".
    assert not diff(outputs(topic()), topic(config={"retention.ms": 604800000})).changes


def test_a_new_bootstrap_address_is_an_update_only() -> None:
    result = diff(outputs(topic()), topic(bootstrap_servers="127.0.0.2:9092"))
    assert result.changes and result.replaces == []


@pytest.mark.parametrize("changes, replaced", [
    ({"partitions": 1}, ["partitions"]),
    ({"replication_factor": 2}, ["replication_factor"]),
    ({"name": "local.m.requests-v2"}, ["name"]),
])
def test_an_opted_in_destructive_change_replaces_delete_first(changes: dict, replaced: list[str]) -> None:
    result = diff(outputs(topic()), topic(allow_destructive=True, **changes))
    assert result.changes and result.replaces == replaced and result.delete_before_replace


def test_a_destructive_diff_without_the_opt_in_fails() -> None:
    # The olds a refresh read from the broker may differ from the inputs check saw: diff refuses too.
    with pytest.raises(ValueError, match="reducing partitions"):
        diff(outputs(topic(partitions=6)), topic())


def test_unknowns_are_assumed_to_change_in_place() -> None:
    for news in (topic(partitions=UNKNOWN), topic(config=UNKNOWN), topic(config={"retention.ms": UNKNOWN})):
        result = diff(outputs(topic()), news)
        assert result.changes and result.replaces == [] and not result.delete_before_replace
    # An unknown name cannot be judged destructive, so it is not refused.
    assert diff(outputs(topic()), topic(name=UNKNOWN)).replaces == []


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
