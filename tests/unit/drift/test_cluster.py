"""The Kubernetes drift checks against API objects shaped like the API server's."""

from __future__ import annotations

import copy

from maas_iac import type_tokens as tokens
from maas_iac.drift.cluster import check_deployments
from maas_iac.drift.runtime import StateView

SPEC = {
    "replicas": 2,
    "selector": {"matchLabels": {"maas.stack": "k8s", "maas.model": "hpt", "maas.role": "replica"}},
    "template": {"spec": {"containers": [{
        "name": "serving", "image": "127.0.0.1:5000/maas/hpt@sha256:" + "ab" * 32,
        "args": ["--model_config_file=/models/models.config"],
        "env": [{"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"}]}]}},
}


def _state(spec=SPEC) -> dict:
    return {"resources": [
        {"urn": "urn:pulumi:k8s::maas-iac::maas:index:ModelService$maas:index:ServingReplicas::hpt-replicas",
         "type": tokens.SERVING_REPLICAS},
        {"urn": "urn:pulumi:k8s::maas-iac::x::hpt-replicas-deployment", "type": tokens.K8S_DEPLOYMENT,
         "parent": "urn:pulumi:k8s::maas-iac::maas:index:ModelService$maas:index:ServingReplicas::hpt-replicas",
         "inputs": {"metadata": {"name": "hpt-replicas", "labels": {"maas.model": "hpt"}}, "spec": spec}},
    ]}


class FakeApi:
    def __init__(self, live: dict[str, dict]) -> None:
        self.live = live

    def deployment(self, name):
        return self.live.get(name)

    def deployments(self, selector):
        return list(self.live.values())


def _live(spec: dict, name: str = "hpt-replicas") -> dict:
    # the API server adds defaults the stack never declared: they are not drift
    spec = copy.deepcopy(spec)
    spec["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    spec["progressDeadlineSeconds"] = 600
    return {"metadata": {"name": name, "labels": {"maas.stack": "k8s", "maas.model": "hpt"}}, "spec": spec}


def _check(live: dict[str, dict]):
    return check_deployments(FakeApi(live), StateView.from_deployment(_state()), "k8s")


def test_a_deployment_as_declared_is_no_drift():
    findings, checked = _check({"hpt-replicas": _live(SPEC)})
    assert findings == [] and checked == 1


def test_a_hand_scaled_or_edited_deployment_is_drift_named_with_what_differs():
    edited = copy.deepcopy(SPEC)
    edited["replicas"] = 5
    container = edited["template"]["spec"]["containers"][0]
    container["image"] = "127.0.0.1:5000/maas/hpt:hotfix"
    container["env"].append({"name": "DEBUG", "value": "1"})
    (finding,), _ = _check({"hpt-replicas": _live(edited)})
    assert (finding.kind, finding.name, finding.model) == ("replica", "hpt-replicas", "hpt")
    assert finding.problems == (
        "scaled to 5 replicas, the state says 2",
        "container serving runs image 127.0.0.1:5000/maas/hpt:hotfix, the state says " + SPEC["template"]["spec"][
            "containers"][0]["image"],
        "container serving's environment differs in DEBUG",
    )


def test_a_deleted_deployment_and_an_unknown_one_are_drift():
    findings, _ = _check({"stray": _live(SPEC, "stray")})
    assert [(f.kind, f.name, f.problems[0]) for f in findings] == [
        ("replica", "hpt-replicas", "Deployment is gone"),
        ("deployment", "stray", "labelled maas.stack=k8s but not in the stack's state"),
    ]
