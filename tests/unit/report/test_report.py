"""The preview report from recorded engine events: golden Markdown, JSON and text, and the
rules behind them (step folding, model attribution, change classes).

The fixtures are real engine events (tests/unit/report/record_fixtures.py). To accept a
deliberate change of the output: ``MAAS_UPDATE_GOLDEN=1 pytest tests/unit/report``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from maas_iac import report as report_pkg
from maas_iac import type_tokens as tokens
from maas_iac.clients.kafka import GroupLag
from maas_iac.report import (
    Lookups, ResourceStep, StepCollector, build_report, human_bytes, render_json, render_markdown, render_text,
    resource_steps,
)

HERE = Path(__file__).parent
CASES = ("unchanged", "model-change", "replica-change", "destructive-topic")
SUBJECTS = {
    "80f75a2e87b6416614f71412fbfda410d8a0c076": "half-plus-two: version 1",
    "3abd36ed4fbed249a243a82e8e12ffcf01e62613": "half-plus-two: version 2, same weights",
}
# The bridge's group as group_lag reads it: one member, two requests not yet answered on partition 0.
GROUP = GroupLag("pvw.half-plus-two.bridge", "pvw.half-plus-two.requests", "stable", 1, ((0, 10, 12), (1, 5, 5), (2, 7, 7)))
LOOKUPS = Lookups(
    commit_subject=lambda repository, sha: SUBJECTS.get(sha),
    image_cached=lambda registry, repository, tag: False,
    layer_bytes=lambda context: 12_701,
    bridge_group=lambda stack, model: GROUP if (stack, model) == ("pvw", "half-plus-two") else None,
)
RENDERERS = {"md": render_markdown, "json": render_json, "txt": render_text}


def _collect(case: str) -> StepCollector:
    from pulumi.automation.events import EngineEvent

    data = json.loads((HERE / "fixtures" / f"{case}.json").read_text())
    collector = StepCollector()
    for raw in data["events"]:
        collector(EngineEvent.from_json(raw))
    return collector


def _report(case: str, lookups: Lookups = LOOKUPS):
    return build_report("pvw", _collect(case).steps(), lookups)


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, fmt: str) -> None:
    text = RENDERERS[fmt](_report(case))
    text = text if text.endswith("\n") else text + "\n"
    golden = HERE / "golden" / f"{case}.{fmt}"
    if os.environ.get("MAAS_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with MAAS_UPDATE_GOLDEN=1 if intended"


def test_unchanged_stack_has_no_changes() -> None:
    collector = _collect("unchanged")
    report = _report("unchanged")
    # 19 resources: the stack, the dynamic and the kafka providers, network, events topic, the
    # orphan sweeper and the model's thirteen (its bridge and bridge container, its errors topic).
    assert collector.summary == {"same": 19} and not collector.errors
    assert not report.has_changes
    assert [m.model for m in report.models] == ["half-plus-two"] and report.models[0].change_class is None
    assert report.other.counts == {"same": 2}


def test_model_change_names_both_commits_and_the_rebuild() -> None:
    [m] = _report("model-change").models
    assert (m.old_sha[:7], m.new_sha[:7]) == ("80f75a2", "3abd36e")
    assert (m.old_subject, m.new_subject) == (SUBJECTS[m.old_sha], SUBJECTS[m.new_sha])
    assert (m.old_versions, m.new_versions) == ((1,), (2,))
    assert (m.image.old_tag, m.image.new_tag) == (f"md-{m.old_digest[:12]}", f"md-{m.new_digest[:12]}")
    assert m.image.action == "rebuild" and m.image.bytes_to_push == 12_701
    [replaced] = m.replicas_replaced
    assert replaced.startswith("pvw-half-plus-two-") and len(replaced) == len("pvw-half-plus-two-") + 8
    # The router carries no digest label: a new model leaves it (fixed name and ports, so any
    # replacement would close them) untouched, and the rollout is create-before-delete only.
    assert m.router is None
    assert m.change_class == "rolling" and not [r for r in m.reasons if "destructive" in r]


def test_cache_hit_pushes_nothing() -> None:
    hit = Lookups(commit_subject=LOOKUPS.commit_subject, image_cached=lambda *_: True)
    [m] = _report("model-change", hit).models
    assert (m.image.action, m.image.bytes_to_push) == ("cache hit", 0)
    unknown = Lookups()
    [m] = _report("model-change", unknown).models
    assert (m.image.action, m.image.bytes_to_push, m.new_subject) == ("unknown", None, None)


def test_replica_change_is_in_place_and_does_not_report_a_generated_name() -> None:
    [m] = _report("replica-change").models
    assert m.change_class == "in place"
    assert (m.old_replicas, m.new_replicas) == (1, 2)
    assert m.replicas_created == ("half-plus-two-replicas-1",)
    assert m.image.action == "unchanged" and m.router is None


def test_destructive_topic_change() -> None:
    [m] = _report("destructive-topic").models
    assert m.change_class == "destructive"
    [topic] = m.topics
    assert (topic.name, topic.op, topic.old_partitions, topic.new_partitions) == ("pvw.half-plus-two.requests",
                                                                                  "replace", 3, 1)
    assert topic.destructive and "data is lost" in m.reasons[0]


def test_the_bridge_row_names_its_replaced_container_and_the_group_lag() -> None:
    [m] = _report("model-change").models
    b = m.bridge
    [replaced] = b.replaced
    assert replaced.startswith("pvw-half-plus-two-bridge-") and (b.old_consumers, b.new_consumers) == (1, 1)
    assert (b.group, b.members, b.state, b.lag) == ("pvw.half-plus-two.bridge", 1, "stable", 2)
    assert f"| Bridge | 1 replaced ({replaced}); 1 in total; group pvw.half-plus-two.bridge: 1 member (stable), lag 2 |" \
        in render_markdown(_report("model-change"))


def test_a_bridge_lag_that_cannot_be_asked_is_said_so() -> None:
    report = _report("replica-change", Lookups())
    [m] = report.models
    assert m.bridge.group is None and m.bridge.lag is None
    assert "  Bridge:   no change (1 in total); consumer group lag unknown (the broker could not be asked)" \
        in render_text(report).splitlines()


def _meta(op: str, urn: str, type_: str = "t", parent: str = "", **kw):
    state = SimpleNamespace(parent=parent, inputs=kw.get("inputs", {}), outputs=kw.get("outputs", {}))
    return SimpleNamespace(op=op, urn=urn, type=type_, old=state, new=state, keys=kw.get("keys"),
                           diffs=None, detailed_diff=None)


def test_replacement_order_tells_delete_first() -> None:
    before = resource_steps([_meta("delete-replaced", "a"), _meta("replace", "a"), _meta("create-replacement", "a")])
    after = resource_steps([_meta("create-replacement", "a"), _meta("replace", "a"), _meta("delete-replaced", "a")])
    assert before[0].op == after[0].op == "replace"
    assert before[0].delete_first and not after[0].delete_first
    assert resource_steps([_meta("refresh", "a"), _meta("same", "a")])[0].op == "same"


def _tree(service_op: str, child_op: str) -> list[ResourceStep]:
    svc = "urn:pulumi:s::p::maas:index:ModelService::iris"
    topics = "urn:pulumi:s::p::maas:index:ModelService$maas:index:ModelTopics::iris-topics"
    topic = topics + "$t::iris-topics-requests"
    return [
        ResourceStep(svc, "maas:index:ModelService", service_op),
        ResourceStep(topics, "maas:index:ModelTopics", service_op, parent=svc),
        ResourceStep(topic, "pulumi-python:dynamic/kafka:Topic", child_op, parent=topics,
                     old_inputs={"name": "s.iris.requests", "partitions": 3}),
    ]


def test_model_added_and_removed() -> None:
    added = build_report("s", _tree("create", "create"))
    assert added.models[0].change_class == "new"
    removed = build_report("s", _tree("delete", "delete"))
    assert removed.models[0].change_class == "destructive"
    assert "leaves the stack" in removed.models[0].reasons[0]


def test_errors_are_collected_without_the_generic_line() -> None:
    collector = StepCollector()
    for message in ("models/a.yaml:3:1: $.x: bad\n", "an unhandled error occurred: program exited with non-zero exit code: 1"):
        collector(SimpleNamespace(resource_pre_event=None, summary_event=None,
                                  diagnostic_event=SimpleNamespace(severity="error", message=message)))
    assert collector.errors == ["models/a.yaml:3:1: $.x: bad"]


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (None, 0, 1023, 1536, 5 * 1024 ** 3)] == [
        "unknown", "0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_public_api_is_complete() -> None:
    from types import ModuleType

    public = {n for n, v in vars(report_pkg).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public == set(report_pkg.__all__)


PINNED = "sha256:" + "5e" * 32


def _image_tree(op: str, old_tag: str, new_inputs: dict) -> list[ResourceStep]:
    svc = "urn:pulumi:s::p::maas:index:ModelService::iris"
    component = "urn:pulumi:s::p::maas:index:ModelService$maas:index:ModelImage::iris-image"
    image = component + "$pulumi-python:dynamic/docker:RegistryImage::iris-image-image"
    return [
        ResourceStep(svc, "maas:index:ModelService", "same"),
        ResourceStep(component, "maas:index:ModelImage", "same", parent=svc),
        ResourceStep(image, "pulumi-python:dynamic/docker:RegistryImage", op, parent=component,
                     old_inputs={"tag": old_tag, "registry": "r", "repository": "maas/iris"},
                     new_inputs={"registry": "r", "repository": "maas/iris", **new_inputs}),
    ]


def test_a_promoted_image_says_where_from_and_is_never_a_build() -> None:
    pinned = {"tag": "md-0123456789ab", "context": "", "pinned_digest": PINNED, "promoted_from": "local"}
    lookups = Lookups(image_cached=lambda *a: pytest.fail("a pinned image needs no registry look-up"))
    report = build_report("prodlike", _image_tree("replace", "md-ba9876543210", pinned), lookups)
    [m] = report.models
    assert (m.image.action, m.image.promoted_from, m.image.promoted_image) == ("promoted", "local", PINNED)
    line = "md-ba9876543210 → md-0123456789ab: promoted from local at sha256:5e5e5e5e5e5e, nothing to build"
    assert line in render_text(report) and line in render_markdown(report)
    assert json.loads(render_json(report))["models"][0]["image"]["promotedFrom"] == "local"
    # Already promoted, and the model changes otherwise: the pin is still shown.
    same = build_report("prodlike", _image_tree("same", "md-0123456789ab", pinned)
                        + [ResourceStep("urn:pulumi:s::p::maas:index:ModelService$x::iris-deployed",
                                        tokens.MODEL_VERSION_EVENT, "update",
                                        parent="urn:pulumi:s::p::maas:index:ModelService::iris")])
    assert same.models[0].image.action == "unchanged"
    assert "md-0123456789ab (unchanged), promoted from local at sha256:5e5e5e5e5e5e" in render_text(same)


def _deployment_tree(old_spec: dict, new_spec: dict) -> list[ResourceStep]:
    svc = "urn:pulumi:s::p::maas:index:ModelService::iris"
    replicas = "urn:pulumi:s::p::maas:index:ModelService$maas:index:ServingReplicas::iris-replicas"
    return [
        ResourceStep(svc, "maas:index:ModelService", "same"),
        ResourceStep(replicas, tokens.SERVING_REPLICAS, "same", parent=svc),
        ResourceStep(replicas + "$kubernetes:apps/v1:Deployment::iris-replicas-deployment", tokens.K8S_DEPLOYMENT,
                     "update", parent=replicas, keys=("spec",),
                     old_inputs={"metadata": {"name": "iris-replicas"}, "spec": old_spec},
                     new_inputs={"metadata": {"name": "iris-replicas"}, "spec": new_spec}),
    ]


def test_a_kubernetes_deployment_is_rolling_when_its_pod_template_changes_and_in_place_when_it_scales() -> None:
    template = {"spec": {"containers": [{"name": "serving", "image": "r/maas/iris@sha256:" + "a" * 64}]}}
    new_image = {"spec": {"containers": [{"name": "serving", "image": "r/maas/iris@sha256:" + "b" * 64}]}}
    [rolled] = build_report("k8s", _deployment_tree({"replicas": 2, "template": template},
                                                    {"replicas": 2, "template": new_image})).models
    assert rolled.change_class == "rolling"
    assert rolled.replicas_updated == ("iris-replicas",)
    assert "Deployment iris-replicas rolls its pods" in rolled.reasons[0]
    [scaled] = build_report("k8s", _deployment_tree({"replicas": 2, "template": template},
                                                    {"replicas": 3, "template": template})).models
    assert scaled.change_class == "in place" and scaled.replicas_updated == ("iris-replicas",)
