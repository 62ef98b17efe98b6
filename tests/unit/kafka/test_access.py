"""The ACL rows each ``topics.access`` principal gets, and the resource names they become."""

from __future__ import annotations

from maas_iac.kafka.access import AclRule, bridge_acl_rules, model_acl_rules

NAMES = dict(requests="prod.hpt.requests", predictions="prod.hpt.predictions", errors="prod.hpt.errors",
             group="prod.hpt.bridge")


def test_the_bridge_gets_what_a_transactional_consume_produce_loop_needs_and_no_more() -> None:
    rows = bridge_acl_rules("User:hpt-bridge", **NAMES)
    assert {(r.resource_type, r.resource_name, r.operation, r.pattern) for r in rows} == {
        ("Topic", "prod.hpt.requests", "Read", "Literal"),
        ("Topic", "prod.hpt.requests", "Describe", "Literal"),
        ("Group", "prod.hpt.bridge", "Read", "Literal"),
        ("Topic", "prod.hpt.predictions", "Write", "Literal"),
        ("Topic", "prod.hpt.predictions", "Describe", "Literal"),
        ("Topic", "prod.hpt.errors", "Write", "Literal"),
        ("Topic", "prod.hpt.errors", "Describe", "Literal"),
        # transactional.id <group>-<ordinal> (maas_dataplane.bridge.config)
        ("TransactionalID", "prod.hpt.bridge-", "Write", "Prefixed"),
        ("TransactionalID", "prod.hpt.bridge-", "Describe", "Prefixed"),
    }
    assert len(rows) == 9 and {r.principal for r in rows} == {"User:hpt-bridge"}


def test_every_row_has_its_own_resource_name() -> None:
    rows = bridge_acl_rules("User:hpt-bridge", **NAMES) + model_acl_rules(
        NAMES["requests"], NAMES["predictions"], "prod.hpt.", produce_requests=("User:hpt-bridge",),
        read_predictions=("User:dash",))
    slugs = [r.slug for r in rows]
    assert len(set(slugs)) == len(slugs)
    assert "hpt-bridge-bridge-predictions-topic-write" in slugs and "hpt-bridge-bridge-errors-topic-write" in slugs
    assert "hpt-bridge-bridge-transactionalid-write-prefix" in slugs


def test_the_names_of_the_earlier_rules_do_not_move() -> None:
    """Resource names are identity: the ``produceRequests`` and ``readPredictions`` rows keep theirs."""
    rows = model_acl_rules(NAMES["requests"], NAMES["predictions"], "prod.hpt.", produce_requests=("User:app",),
                           read_predictions=("User:dash",))
    assert [r.slug for r in rows] == ["app-topic-write", "app-topic-describe", "dash-topic-read", "dash-topic-describe",
                                      "dash-group-read-prefix"]
    assert AclRule("User:a", "Topic", "t", "Write").slug == "a-topic-write"


def test_readers_are_denied_the_bridge_group_their_prefix_would_allow() -> None:
    rows = model_acl_rules(NAMES["requests"], NAMES["predictions"], "prod.hpt.", produce_requests=(),
                           read_predictions=("User:dash", "User:hpt-bridge"), bridge_group="prod.hpt.bridge",
                           bridge_principal="User:hpt-bridge")
    denied = [r for r in rows if r.permission == "Deny"]
    # The bridge's own principal is not denied its group; every other reader is.
    assert [(r.principal, r.resource_type, r.resource_name, r.operation, r.pattern) for r in denied] == [
        ("User:dash", "Group", "prod.hpt.bridge", "Read", "Literal")]
    assert denied[0].slug == "dash-bridge-group-read-deny"
    # Without a bridge there is nothing to keep readers out of.
    assert not [r for r in model_acl_rules(NAMES["requests"], NAMES["predictions"], "prod.hpt.", produce_requests=(),
                                           read_predictions=("User:dash",)) if r.permission == "Deny"]


def test_a_principal_that_produces_and_reads_gets_distinct_names() -> None:
    rows = model_acl_rules(NAMES["requests"], NAMES["predictions"], "prod.hpt.", produce_requests=("User:app",),
                           read_predictions=("User:app",))
    slugs = [r.slug for r in rows]
    assert len(set(slugs)) == len(slugs) == 5
    assert "app-topic-describe" in slugs and "app-predictions-topic-describe" in slugs
