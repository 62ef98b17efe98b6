"""The same model spec on the single-node Kubernetes cluster, end to end, in order.

A scratch project's stack ``ke2e`` (``maas:engine: kubernetes``, namespace ``maas-ke2e``) with
the model ``hpt`` of the Docker end-to-end tests, spec unchanged: 2 replicas and one Kafka
bridge. Each scenario starts where the previous one left the stack:

1. first up · 2. no-op up · 3. a new model commit under load · 4. a corrupt version refused
before anything changes · 5. scaling 2 → 3 → 2 under load · 6. drift seen and repaired ·
7. destroy, which leaves nothing behind.

Requests go through the router's NodePort on 127.0.0.1, as a user's would.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from k8s_cluster import KUBECONFIG, get_json, kubectl
from polling import wait_until

from maas_iac.automation import engine_env, scratch_project, select_stack
from maas_iac.examples.predict import predict_grpc, predict_rest

from .conftest import STACK_CONFIG, E2EStack, ExampleModels, GrpcLoop, RequestLoop, changes, clean_leftovers

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

STACK = "ke2e"
NAMESPACE = f"maas-{STACK}"
X = [1.0, 2.0, 5.0]
V1 = [2.5, 3.0, 4.5]  # y = x/2 + 2
V2 = [3.5, 4.0, 5.5]  # y = x/2 + 3
CONFIG = {
    **{k: v for k, v in STACK_CONFIG.items() if k != "maas:portOffset"},
    "maas:engine": "kubernetes",
    "maas:kubernetes": {"kubeconfig": str(KUBECONFIG), "namespace": NAMESPACE},
}


class KubeStack(E2EStack):
    """The ``ke2e`` stack: endpoints from its outputs (the cluster picks the node ports)."""

    def output(self, model: str) -> dict[str, Any]:
        return self.stack.outputs()[model].value

    def rest(self, model: str) -> str:
        return self.output(model)["rest"]

    def grpc(self, model: str) -> str:
        return self.output(model)["grpc"]

    def pods(self, role: str = "replica") -> list[dict[str, Any]]:
        """The model's pods of ``role`` that are not terminating."""
        items = get_json("pods", "-n", NAMESPACE, "-l", f"maas.model=hpt,maas.role={role}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self, role: str = "replica") -> dict[str, dict[str, Any]]:
        """uid → pod, of the Ready ones."""
        return {p["metadata"]["uid"]: p for p in self.pods(role)
                if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))}

    def deployment(self, name: str = "hpt-replicas") -> dict[str, Any]:
        return get_json("deployment", "-n", NAMESPACE, name)

    def maas(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["maas", *args, "--stack", STACK, "--cwd", str(self.project)], capture_output=True,
                              text=True, env={**os.environ, **self.env}, timeout=600)


def _restarts(pods: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {uid: sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", []))
            for uid, p in pods.items()}


def _remove_namespace() -> None:
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s")


@pytest.fixture(scope="module")
def k8s(k8s_cluster, tmp_path_factory, docker_client, kafka_admin, registry) -> Iterator[KubeStack]:
    root = tmp_path_factory.mktemp("ke2e")
    repo = ExampleModels(root / "example-models")
    project = scratch_project(root / "project", STACK, CONFIG, {})
    (project / ".pulumi-state").mkdir()
    extra = {"PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state", "MAAS_CACHE": str(root / "cache")}
    clean_leftovers(docker_client, kafka_admin, STACK)
    _remove_namespace()
    stack = select_stack(STACK, project, env=extra)
    e2e = KubeStack(project=project, repo=repo, stack=stack, docker=docker_client, admin=kafka_admin,
                    env=engine_env(project, extra), name=STACK, port_offset=0)
    try:
        yield e2e
    finally:
        try:
            stack.destroy(on_output=lambda _line: None)
        finally:
            _remove_namespace()
            clean_leftovers(docker_client, kafka_admin, STACK)
            stack.workspace.remove_stack(STACK)


def _kafka_prediction(k8s: KubeStack) -> list[float]:
    result = k8s.maas("predict", "hpt", json.dumps({"instances": [[x] for x in X]}), "--via", "kafka",
                      "--timeout", "120")
    assert result.returncode == 0, result.stdout + result.stderr
    return [p[0] for p in json.loads(result.stdout)["predictions"]]


def test_1_first_up_deploys_the_spec_on_the_cluster(k8s: KubeStack) -> None:
    k8s.set_model("hpt", ref="v1", replicas=2)
    out = k8s.up().outputs["hpt"].value
    assert out["gitSha"] == k8s.repo.sha("v1") and out["versions"] == [1]
    assert out["rest"].startswith("http://127.0.0.1:") and out["grpc"].startswith("127.0.0.1:")
    assert predict_rest(out["rest"], X) == V1
    assert predict_grpc(out["grpc"], "hpt", X) == V1
    pods = k8s.ready_pods()
    assert len(pods) == 2
    for pod in pods.values():
        (container,) = pod["spec"]["containers"]
        assert container["image"] == out["image"]  # by repo digest: exactly the pushed content
        assert pod["spec"]["terminationGracePeriodSeconds"] > 3  # the spec's drain
    deployment = k8s.deployment()
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["status"]["readyReplicas"] == 2
    assert get_json("pdb", "-n", NAMESPACE, "hpt-replicas")["spec"]["maxUnavailable"] == 1
    service = get_json("service", "-n", NAMESPACE, "hpt")
    assert service["spec"]["type"] == "NodePort"
    # the model server's admin surface is not published: the router answers anything else 403
    base = out["rest"].split("/v1/")[0]
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base}/monitoring/prometheus/metrics", timeout=10)
    assert denied.value.code == 403
    assert len(k8s.ready_pods("bridge")) == 1
    assert _kafka_prediction(k8s) == V1
    events = [r["value"] for r in k8s.events() if r["key"] == "hpt" and r["value"]]
    assert events[-1]["gitSha"] == k8s.repo.sha("v1") and events[-1]["image"] == out["image"]


def test_2_a_no_op_up_changes_nothing_and_restarts_no_pod(k8s: KubeStack) -> None:
    before = k8s.ready_pods()
    bridge = set(k8s.ready_pods("bridge"))
    assert changes(k8s.preview().change_summary) == {}
    assert changes(k8s.up().summary.resource_changes) == {}
    after = k8s.ready_pods()
    assert set(after) == set(before) and _restarts(after) == _restarts(before)
    assert set(k8s.ready_pods("bridge")) == bridge


def test_3_a_new_model_commit_rolls_out_with_no_failed_request(k8s: KubeStack) -> None:
    old = set(k8s.ready_pods())
    k8s.set_model("hpt", ref="v2")
    with RequestLoop(k8s.rest("hpt")) as rest, GrpcLoop(k8s.grpc("hpt"), "hpt") as grpc:
        up = k8s.up()
        # the rollout is done when the old pods are terminating: they drain, still answering
        wait_until(lambda: not {p["metadata"]["uid"] for p in get_json(
            "pods", "-n", NAMESPACE, "-l", "maas.model=hpt,maas.role=replica")["items"]} & old, 120,
            "the old replicas to finish draining")
        wait_until(lambda: rest.values and rest.values[-1] == 3.5, 30, "the loop to be answered by v2")
    print(f"rollout: REST {rest.summary()}; gRPC {grpc.summary()}")
    assert rest.failures == [] and grpc.failures == []
    assert rest.ok > 50 and grpc.ok > 20
    assert set(rest.values) <= {2.5, 3.5} and rest.values[-1] == 3.5
    assert up.outputs["hpt"].value["gitSha"] == k8s.repo.sha("v2")
    assert predict_rest(k8s.rest("hpt"), X) == V2
    new = k8s.ready_pods()
    assert len(new) == 2 and not set(new) & old
    assert _kafka_prediction(k8s) == V2


def test_4_a_corrupt_version_is_refused_before_anything_changes(k8s: KubeStack) -> None:
    from pulumi import automation as auto

    pods, generation = set(k8s.ready_pods()), k8s.deployment()["metadata"]["generation"]
    k8s.set_model("hpt", ref="v3")
    with pytest.raises(auto.CommandError) as refused:
        k8s.up()
    message = str(refused.value)
    assert f"model hpt: version 3 at v3 ({k8s.repo.sha('v3')[:12]}) is not a loadable SavedModel" in message, \
        message[-2000:]
    assert set(k8s.ready_pods()) == pods
    assert k8s.deployment()["metadata"]["generation"] == generation
    assert predict_rest(k8s.rest("hpt"), X) == V2
    k8s.set_model("hpt", ref="v2")
    assert changes(k8s.preview().change_summary) == {}


def test_5_scaling_2_3_2_under_load(k8s: KubeStack) -> None:
    with RequestLoop(k8s.rest("hpt")) as load:
        for replicas in (3, 2):
            k8s.set_model("hpt", replicas=replicas)
            k8s.up()
            wait_until(lambda: len(k8s.ready_pods()) == replicas and len(k8s.pods()) == replicas, 120,
                       f"{replicas} Ready replicas and no other")
    print(f"scaling: {load.summary()}")
    assert load.failures == []
    assert k8s.deployment()["spec"]["replicas"] == 2


def test_6_a_deleted_pod_is_no_drift_a_hand_edited_deployment_is_and_up_repairs_it(k8s: KubeStack) -> None:
    victim = next(iter(k8s.ready_pods().values()))["metadata"]["name"]
    kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait=false")
    clean = k8s.maas("drift")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    wait_until(lambda: len(k8s.ready_pods()) == 2, 120, "the Deployment to bring its second replica back")

    kubectl("scale", "deployment", "-n", NAMESPACE, "hpt-replicas", "--replicas=4")
    kubectl("set", "env", "deployment", "-n", NAMESPACE, "hpt-replicas", "DEBUG=1")
    drift = k8s.maas("drift")
    print(drift.stdout)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "replica hpt-replicas [hpt]" in drift.stdout
    assert "scaled to 4 replicas, the state says 2" in drift.stdout
    assert "environment differs in DEBUG" in drift.stdout

    # server-side apply leaves a field another manager added (the variable), and the stack takes
    # back the fields it declares (the replica count)
    kubectl("set", "env", "deployment", "-n", NAMESPACE, "hpt-replicas", "DEBUG-")
    k8s.up()
    assert k8s.deployment()["spec"]["replicas"] == 2
    wait_until(lambda: len(k8s.pods()) == 2 and len(k8s.ready_pods()) == 2, 180, "2 Ready replicas and no other")
    repaired = k8s.maas("drift")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert predict_rest(k8s.rest("hpt"), X) == V2


def test_7_destroy_leaves_nothing_behind(k8s: KubeStack) -> None:
    k8s.stack.destroy(on_output=lambda _line: None)
    gone = kubectl("get", "namespace", NAMESPACE, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert not k8s.stack_topics()
    assert [r for r in k8s.state_resources() if not r["type"].startswith("pulumi:pulumi:Stack")] == []
    assert k8s.containers() == []
