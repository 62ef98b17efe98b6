"""A stack whose engine is kubernetes, under Pulumi mocks: the whole program with the same
specs as the Docker stack, and the bridge's Deployments. The real cluster's behaviour is
proven by tests/e2e/test_k8s_stack.py."""

from __future__ import annotations

import json

import pulumi
import pytest

from maas_dataplane.probe import health_command
from maas_iac.components import BridgeArgs
from maas_iac.components.k8s import ClusterTarget, KubeBridge
from tests.components.test_program import LOCAL_CONFIG, SPEC, _run_program

K8S_CONFIG = {
    **LOCAL_CONFIG,
    "maas:engine": "kubernetes",
    "maas:kubernetes": json.dumps({"kubeconfig": "~/.kube/maas", "namespace": "models"}),
}


@pytest.fixture
def k8s_program(tmp_path, monkeypatch, model_repo, program_inputs, install_mocks):
    program_inputs(SPEC, K8S_CONFIG, model_repo.path)
    monkeypatch.setattr("maas_iac.program.manifest_digest", lambda registry, repo, tag: None)
    mocks = install_mocks("k8s", preview=False)
    _run_program()
    return mocks


def _deployment(regs, name):
    return regs[name].inputs["spec"]


def test_the_cluster_runs_the_workloads_and_docker_only_builds(k8s_program):
    regs = k8s_program.by_name()
    types = {r.type_ for r in k8s_program.registrations}
    assert "pulumi-python:dynamic/docker:Container" not in types
    assert "network" not in regs and "orphans" not in regs
    provider = regs["kubernetes"]
    assert provider.type_ == "pulumi:providers:kubernetes"
    assert provider.inputs["kubeconfig"].endswith("/.kube/maas") and not provider.inputs["kubeconfig"].startswith("~")
    assert provider.inputs["namespace"] == "models"
    assert regs["namespace"].inputs["metadata"]["name"] == "models"
    # the image is still built and pushed by the Docker engine
    assert regs["a-image-image"].type_.endswith("docker:RegistryImage")
    for name in ("a", "b"):
        for child in ("replicas-deployment", "replicas-service", "replicas-budget", "router-deployment",
                      "router-service"):
            assert regs[f"{name}-{child}"].provider.startswith(provider.urn)
            assert regs[f"{name}-{child}"].inputs["metadata"]["namespace"] == "models"


def test_replicas_roll_health_gated_and_drain_longer_than_the_grace(k8s_program):
    regs = k8s_program.by_name()
    spec = _deployment(regs, "a-replicas-deployment")
    assert spec["replicas"] == 2 and _deployment(regs, "b-replicas-deployment")["replicas"] == 1  # stack override
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert spec["selector"]["matchLabels"] == {"maas.stack": "k8s", "maas.model": "a", "maas.role": "replica"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"127.0.0.1:5000/maas/a@sha256:{'ab' * 32}"
    assert container["readinessProbe"]["exec"]["command"] == health_command("a")[1:]
    assert container["startupProbe"]["exec"] == container["readinessProbe"]["exec"]
    assert "tcpSocket" in container["livenessProbe"]
    assert container["resources"]["requests"]["cpu"]
    drain = next(int(a.split("=")[1]) for a in container["args"] if a.startswith("--drain_seconds="))
    assert pod["terminationGracePeriodSeconds"] > drain
    assert pod["automountServiceAccountToken"] is False
    assert spec["template"]["metadata"]["annotations"]["maas.digest"]
    headless = regs["a-replicas-service"].inputs["spec"]
    assert headless["clusterIP"] == "None" and headless["selector"] == spec["selector"]["matchLabels"]
    assert regs["a-replicas-budget"].inputs["spec"]["maxUnavailable"] == 1


def test_the_router_resolves_ready_replicas_and_is_published_as_a_node_port(k8s_program):
    regs = k8s_program.by_name()
    router = _deployment(regs, "a-router-deployment")["template"]["spec"]["containers"][0]
    config = router["env"][0]["value"]
    assert "parse-resolv-conf" in config and "127.0.0.11" not in config
    assert "server-template r 8 a-replicas.models.svc.cluster.local:8501" in config
    assert "HandleReloadConfigRequest" not in config and "PredictionService/Predict" in config
    service = regs["a-router-service"].inputs
    assert service["metadata"]["name"] == "a" and service["spec"]["type"] == "NodePort"
    assert {p["port"] for p in service["spec"]["ports"]} == {8500, 8501}


def _bridge_args(**over) -> BridgeArgs:
    base = dict(
        stack="k8s", model_name="hpt", image="127.0.0.1:5000/maas/serving@sha256:" + "ab" * 32, consumers=2,
        network="host", grpc_target="hpt.models.svc.cluster.local:8500", bootstrap_servers="127.0.0.1:9092",
        requests_topic="k8s.hpt.requests", predictions_topic="k8s.hpt.predictions", errors_topic="k8s.hpt.errors",
        labels={"maas.stack": "k8s", "maas.model": "hpt"}, name_prefix="k8s-hpt-bridge",
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="bridge", sasl_password="s3cret")
    base.update(over)
    return BridgeArgs(**base)


def _bridge(mocks, args: BridgeArgs) -> dict:
    @pulumi.runtime.test
    def construct():
        provider = pulumi.ProviderResource("kubernetes", "kubernetes")
        target = ClusterTarget(provider=provider, namespace="models", namespace_name="models")
        return KubeBridge("hpt-bridge", args, target).names

    construct()
    return mocks.by_name()


def test_each_bridge_instance_is_a_deployment_with_its_ordinal_and_the_password_from_a_secret(mocks):
    regs = _bridge(mocks, _bridge_args())
    for i in range(2):
        spec = regs[f"hpt-bridge-{i}"].inputs["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = spec["template"]["spec"]
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["MAAS_BRIDGE_ORDINAL"]["value"] == str(i)
        assert env["MAAS_BRIDGE_GRPC_TARGET"]["value"] == "hpt.models.svc.cluster.local:8500"
        assert env["MAAS_BRIDGE_SASL_PASSWORD"] == {
            "name": "MAAS_BRIDGE_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "hpt-bridge-kafka", "key": "password"}}}
        assert "s3cret" not in json.dumps(regs[f"hpt-bridge-{i}"].raw)
        assert regs["hpt-bridge-kafka-login"].urn in regs[f"hpt-bridge-{i}"].dependencies
    assert regs["hpt-bridge-kafka-login"].is_secret("stringData")


def test_a_bridge_on_the_pod_network_when_the_broker_is_not_on_the_loopback(mocks):
    regs = _bridge(mocks, _bridge_args(network="pod", bootstrap_servers="kafka:9093", consumers=1,
                                       security_protocol="PLAINTEXT", sasl_mechanism=None, sasl_username=None,
                                       sasl_password=None))
    pod = regs["hpt-bridge-0"].inputs["spec"]["template"]["spec"]
    assert "hostNetwork" not in pod and "hpt-bridge-kafka-login" not in regs


def test_the_specs_cpus_and_memory_are_limits_and_a_quarter_of_the_cpu_is_requested():
    from maas_iac.components.k8s.pods import resources

    assert resources(1.0, 1024) == {"requests": {"cpu": "250m", "memory": "1024Mi"},
                                    "limits": {"cpu": "1000m", "memory": "1024Mi"}}
    assert resources(None, None) == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    assert resources(0.002, None)["requests"]["cpu"] == "1m"
