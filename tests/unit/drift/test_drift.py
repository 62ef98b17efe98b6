"""maas drift's pure parts: the state view of an exported deployment, the AVAILABLE versions of
a model status, refresh findings from a recorded preview, merging and both reporters.

fixtures/deployment.json is ``pulumi stack export`` of the recorder's deployed ``pvw`` stack
(tests/unit/report/record_fixtures.py --export), trimmed to each resource's urn, type,
parent, id and outputs (no pickled provider).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from maas_iac import type_tokens
from maas_iac.clients.kafka import GroupLag
from maas_iac.drift.report import DriftReport, merge_findings, refresh_findings, render_json, render_text
from maas_iac.drift.runtime import Finding, StateView, _available
from maas_iac.report import StepCollector, build_report

HERE = Path(__file__).parent
REPORT_FIXTURES = HERE.parent / "report" / "fixtures"


@pytest.fixture
def deployment() -> dict:
    return json.loads((HERE / "fixtures" / "deployment.json").read_text())


# -- StateView.from_deployment -------------------------------------------------------------------


def test_state_view_of_a_deployed_stack(deployment: dict) -> None:
    view = StateView.from_deployment(deployment)
    [replica] = view.replicas
    assert replica["name"].startswith("pvw-half-plus-two-") and replica["labels"]["maas.model"] == "half-plus-two"
    assert replica["image"].startswith("127.0.0.1:5000/maas/half-plus-two@sha256:")
    assert len(replica["container_id"]) == 64
    [router] = view.routers
    assert router["name"] == "pvw-half-plus-two-router" and router["labels"]["maas.role"] == "router"
    assert sorted(t["name"] for t in view.topics) == [
        "pvw.half-plus-two.errors", "pvw.half-plus-two.predictions", "pvw.half-plus-two.requests", "pvw.model-events"]
    [bridge] = view.bridges
    assert bridge["labels"]["maas.role"] == "bridge" and bridge["name"].startswith("pvw-half-plus-two-bridge-")
    assert view.served == {"half-plus-two": (1,)}
    assert view.network == "maas-pvw"


def test_containers_are_told_apart_by_their_parent(deployment: dict) -> None:
    # A container whose parent is neither ServingReplicas nor Router is neither.
    resources = deployment["resources"]
    router = next(r for r in resources if r["urn"].endswith("::half-plus-two-router-haproxy"))
    stray = {**copy.deepcopy(router), "urn": router["urn"] + "-2", "parent": "urn:pulumi:pvw::maas-iac::pulumi:pulumi:Stack::maas-iac-pvw"}
    view = StateView.from_deployment({"resources": resources + [stray]})
    assert len(view.routers) == 1 and len(view.replicas) == 1


def test_replicas_of_several_models_and_the_first_network_wins() -> None:
    def res(urn: str, type_: str, parent: str = "", **outputs) -> dict:
        return {"urn": urn, "type": type_, "parent": parent, "outputs": outputs}

    sr = "urn:pulumi:s::p::maas:index:ServingReplicas::{}-replicas"
    resources = [
        res(sr.format("a"), type_tokens.SERVING_REPLICAS),
        res(sr.format("b"), type_tokens.SERVING_REPLICAS),
        res("ca", type_tokens.CONTAINER, sr.format("a"), name="a-1", network="net-1"),
        res("cb", type_tokens.CONTAINER, sr.format("b"), name="b-1", network="net-2"),
        res("ea", type_tokens.MODEL_VERSION_EVENT, model="a", versions=[2.0, 3.0]),
        res("eb", type_tokens.MODEL_VERSION_EVENT, model="b"),
    ]
    view = StateView.from_deployment({"resources": resources})
    assert [r["name"] for r in view.replicas] == ["a-1", "b-1"]
    assert view.network == "net-1"
    assert view.served == {"a": (2, 3), "b": ()}


@pytest.mark.parametrize("deployment", [{}, {"resources": None}, {"resources": []}])
def test_an_empty_deployment_is_an_empty_view(deployment: dict) -> None:
    view = StateView.from_deployment(deployment)
    assert (view.replicas, view.routers, view.topics, view.served, view.network) == ([], [], [], {}, None)


# -- _available ------------------------------------------------------------------------------------


def test_available_versions_are_the_available_ones_sorted() -> None:
    status = {"model_version_status": [
        {"version": "3", "state": "AVAILABLE"},
        {"version": "1", "state": "AVAILABLE"},
        {"version": "2", "state": "LOADING"},
        {"version": "4", "state": "END"},
    ]}
    assert _available(status) == (1, 3)
    assert _available({}) == ()
    assert _available({"model_version_status": None}) == ()
    assert _available({"model_version_status": [{"version": 7, "state": "UNLOADING"}]}) == ()


# -- refresh findings from a recorded preview -------------------------------------------------------


def _preview(case: str):
    from pulumi.automation.events import EngineEvent

    collector = StepCollector()
    for raw in json.loads((REPORT_FIXTURES / f"{case}.json").read_text())["events"]:
        collector(EngineEvent.from_json(raw))
    return build_report("pvw", collector.steps())


def test_an_unchanged_stack_has_no_refresh_findings() -> None:
    assert refresh_findings(_preview("unchanged")) == []


def test_refresh_findings_name_each_changed_resource_except_the_event() -> None:
    findings = refresh_findings(_preview("model-change"))
    by_kind = {f.kind: f for f in findings}
    assert "event" not in by_kind  # the event follows the model; it is not drift of its own
    assert by_kind["image"].problems == ("the next up replaces it (tag)",)
    replica = by_kind["replica"]
    assert replica.name.startswith("pvw-half-plus-two-") and replica.model == "half-plus-two"
    assert replica.problems[0].startswith("the next up replaces it (")
    assert {f.model for f in findings} == {"half-plus-two"}


def test_refresh_findings_of_a_created_replica_and_a_replaced_topic() -> None:
    [created] = [f for f in refresh_findings(_preview("replica-change")) if f.kind == "replica"]
    assert created.problems == ("the next up creates it again",)
    [topic] = refresh_findings(_preview("destructive-topic"))
    assert (topic.kind, topic.name) == ("topic", "pvw.half-plus-two.requests")
    assert topic.problems == ("the next up replaces it (partitions)",)


# -- merge_findings ----------------------------------------------------------------------------------


def test_one_finding_per_thing_with_every_problem_once() -> None:
    merged = merge_findings(
        [Finding("replica", "r-1", ("container is gone",), "m")],
        [Finding("replica", "r-1", ("the next up creates it again", "container is gone")),
         Finding("topic", "s.m.requests", ("1 partitions, the state says 3",), "m")],
        [Finding("container", "stray", ("labelled maas.stack=s but not in the stack's state (exited)",))],
    )
    assert merged == [
        Finding("container", "stray", ("labelled maas.stack=s but not in the stack's state (exited)",)),
        Finding("replica", "r-1", ("container is gone", "the next up creates it again"), "m"),
        Finding("topic", "s.m.requests", ("1 partitions, the state says 3",), "m"),
    ]


def test_the_model_comes_from_whichever_finding_knows_it() -> None:
    [f] = merge_findings([Finding("router", "r", ("a",))], [Finding("router", "r", ("b",), "m")])
    assert f == Finding("router", "r", ("a", "b"), "m")
    # Same name, other kind: two things.
    assert len(merge_findings([Finding("router", "x", ("a",))], [Finding("replica", "x", ("a",))])) == 2
    assert merge_findings() == []


# -- reporters ----------------------------------------------------------------------------------------


def _report(*findings: Finding) -> DriftReport:
    return DriftReport(stack="pvw", findings=tuple(findings), resources=12, containers=2, topics=3)


def test_text_without_drift() -> None:
    report = _report()
    assert not report.drift
    assert render_text(report) == "stack pvw: no drift (12 resources refreshed, 2 containers and 3 topics checked)"


def test_text_with_drift_names_each_thing_and_its_model() -> None:
    report = _report(Finding("replica", "pvw-m-1", ("container is gone", "the next up creates it again"), "m"),
                     Finding("other", "network", ("the next up replaces it (name)",)))
    assert report.drift
    assert render_text(report).splitlines() == [
        "stack pvw: drift in 2 things (12 resources refreshed, 2 containers and 3 topics checked)",
        "  replica pvw-m-1 [m]: container is gone; the next up creates it again",
        "  other network: the next up replaces it (name)",
    ]
    one = _report(Finding("topic", "t", ("gone",)))
    assert render_text(one).startswith("stack pvw: drift in 1 thing (")


def test_json_is_the_report_as_data() -> None:
    report = _report(Finding("topic", "pvw.m.requests", ("1 partitions, the state says 3",), "m"))
    assert json.loads(render_json(report)) == {
        "stack": "pvw",
        "drift": True,
        "findings": [{"kind": "topic", "name": "pvw.m.requests", "model": "m",
                      "problems": ["1 partitions, the state says 3"]}],
        "checked": {"resources": 12, "containers": 2, "topics": 3},
        "bridgeGroups": [],
    }
    assert json.loads(render_json(_report())) == {
        "stack": "pvw", "drift": False, "findings": [], "checked": {"resources": 12, "containers": 2, "topics": 3},
        "bridgeGroups": []}


GROUP = GroupLag("pvw.m.bridge", "pvw.m.requests", "stable", 2, ((0, 7, 9), (1, 3, 3)))


def test_each_bridge_group_and_its_lag_is_listed_with_or_without_drift() -> None:
    clean = DriftReport(stack="pvw", findings=(), resources=12, containers=3, topics=3, groups=(GROUP,))
    assert render_text(clean).splitlines() == [
        "stack pvw: no drift (12 resources refreshed, 3 containers and 3 topics checked)",
        "  bridge group pvw.m.bridge: 2 members (stable), lag 2",
    ]
    drifted = DriftReport(stack="pvw", findings=(Finding("topic", "t", ("gone",)),), resources=12, containers=3,
                          topics=3, groups=(GROUP,))
    assert render_text(drifted).splitlines()[-1] == "  bridge group pvw.m.bridge: 2 members (stable), lag 2"
    assert json.loads(render_json(clean))["bridgeGroups"] == [{
        "group": "pvw.m.bridge", "topic": "pvw.m.requests", "state": "stable", "members": 2, "lag": 2,
        "partitions": [{"partition": 0, "committed": 7, "end": 9}, {"partition": 1, "committed": 3, "end": 3}]}]


def test_bridge_groups_are_asked_per_model_and_short_groups_are_drift(monkeypatch, deployment: dict) -> None:
    from maas_iac.clients import kafka
    from maas_iac.drift import runtime

    asked = []

    def fake_lag(admin, group, topic, timeout_s=10):
        asked.append((group, topic))
        return GroupLag(group, topic, "empty", 0, ((0, 4, 9),))

    monkeypatch.setattr(kafka, "group_lag", fake_lag)
    findings, groups = runtime.check_bridge_groups(object(), StateView.from_deployment(deployment), "pvw")
    assert asked == [("pvw.half-plus-two.bridge", "pvw.half-plus-two.requests")]
    [finding] = findings
    assert (finding.kind, finding.name, finding.model) == ("bridge", "pvw.half-plus-two.bridge", "half-plus-two")
    assert finding.problems == ("consumer group has 0 of 1 members (empty): a bridge container that runs but "
                                "consumes nothing; 5 requests wait",)
    assert [g.lag for g in groups] == [5]
    assert runtime.check_bridge_groups(object(), StateView(), "pvw") == ([], [])


def test_the_bridge_group_name_is_the_one_the_bridge_joins() -> None:
    from maas_dataplane.bridge.config import parse_config
    from maas_iac.spec import bridge_group

    config = parse_config(["--stack", "pvw", "--model", "m", "--bootstrap-servers", "k:9092", "--grpc-target", "r:8500"], {})
    assert config.group_id == bridge_group("pvw", "m") == "pvw.m.bridge"
