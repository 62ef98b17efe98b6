"""The single-node Kubernetes cluster of `scripts/services start --k8s`, for real.

The node must be Ready; a Deployment of an image from the local registry rolls out and its
NodePort Service answers on 127.0.0.1; the pulumi-kubernetes provider plugin built by
scripts/setup_k8s.sh deploys and destroys a Deployment and a Service through the Automation API.

The cluster is started when it is not running (idempotent); when the test session started it, it
also stops it at the end of the session and checks that nothing is left behind: no KUBE-* or CNI-* iptables
chain, no mount under the cluster's directories, no CNI network namespace, no cni0 bridge.
A cluster that was already running is left running.

Needs scripts/setup --k8s and the registry with maas/debian-python (scripts/setup).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_cluster import CACHE, KUBECONFIG, kubectl

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")
IMAGE = f"{REGISTRY}/maas/debian-python:bookworm"
PLUGIN_VERSION = "4.25.0"

# A tiny web server: each replica answers with its own pod name.
SERVER_COMMAND = [
    "python3", "-c",
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['POD_NAME'].encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()\n",
]


def http_get(url: str, timeout: float = 60) -> str:
    """GET url until it answers 200 (a fresh NodePort takes a moment), return the body."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(k8s_cluster: None) -> None:
    """The cluster (session-wide: the end-to-end stack uses it too)."""


@pytest.fixture
def namespace(cluster: None) -> Iterator[str]:
    name = f"maas-it-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=true", "--timeout=120s", check=False)


def free_node_port() -> int:
    used = {p.get("nodePort") for s in json.loads(kubectl("get", "services", "-A", "-o", "json").stdout)["items"]
            for p in s["spec"].get("ports", [])}
    return next(p for p in range(30080, 32767) if p not in used)


def test_node_ready(cluster: None) -> None:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
    assert nodes[0]["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_deployment_from_local_registry_answers_on_node_port(namespace: str) -> None:
    node_port = free_node_port()
    manifest = {
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "web", "namespace": namespace},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [{
                                       "name": "web", "image": IMAGE, "command": SERVER_COMMAND,
                                       "ports": [{"containerPort": 8080}],
                                       "env": [{"name": "POD_NAME", "valueFrom": {
                                           "fieldRef": {"fieldPath": "metadata.name"}}}],
                                       "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                          "periodSeconds": 1}}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "web", "namespace": namespace},
             "spec": {"type": "NodePort", "selector": {"app": "web"},
                      "ports": [{"port": 80, "targetPort": 8080, "nodePort": node_port}]}},
        ]}
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=180s")
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert len(names) == 2
    assert all(p["status"]["podIP"].startswith("10.244.0.") for p in pods)
    # both replicas answer behind the NodePort on the host's loopback
    seen = set()
    deadline = time.monotonic() + 60
    while seen != names and time.monotonic() < deadline:
        seen.add(http_get(f"http://127.0.0.1:{node_port}/"))
    assert seen == names


def test_pulumi_kubernetes_deploys_and_destroys(cluster: None, engine_env: dict[str, str],
                                                 pulumi_root: Path, tmp_path: Path) -> None:
    import pulumi
    import pulumi_kubernetes as k8s
    from pulumi import automation as auto

    # the provider plugin lives in the PULUMI_HOME of scripts/env, where setup_k8s.sh put it
    env = dict(engine_env, PULUMI_HOME=str(CACHE / "pulumi-home"))
    listed = subprocess.run([str(pulumi_root / "bin" / "pulumi"), "plugin", "ls", "--json"],
                            capture_output=True, text=True, env=dict(os.environ, **env))
    plugins = json.loads(listed.stdout or "[]")
    if not any(p["name"] == "kubernetes" and p["kind"] == "resource" and p["version"] == PLUGIN_VERSION
               for p in plugins):
        pytest.fail(f"pulumi plugin kubernetes {PLUGIN_VERSION} is not installed; run scripts/setup --k8s",
                    pytrace=False)

    namespace = f"maas-pulumi-{uuid.uuid4().hex[:8]}"
    node_port = free_node_port()

    def program() -> None:
        provider = k8s.Provider("local", kubeconfig=str(KUBECONFIG))
        opts = pulumi.ResourceOptions(provider=provider)
        ns = k8s.core.v1.Namespace("ns", metadata={"name": namespace}, opts=opts)
        labels = {"app": "web"}
        k8s.apps.v1.Deployment(
            "web", metadata={"namespace": ns.metadata["name"], "name": "web"},
            spec={"replicas": 2, "selector": {"match_labels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{
                                   "name": "web", "image": IMAGE, "command": SERVER_COMMAND,
                                   "ports": [{"container_port": 8080}],
                                   "env": [{"name": "POD_NAME", "value_from": {
                                       "field_ref": {"field_path": "metadata.name"}}}],
                                   "readiness_probe": {"http_get": {"path": "/", "port": 8080},
                                                       "period_seconds": 1}}]}}},
            opts=opts)
        service = k8s.core.v1.Service(
            "web", metadata={"namespace": ns.metadata["name"], "name": "web"},
            spec={"type": "NodePort", "selector": labels,
                  "ports": [{"port": 80, "target_port": 8080, "node_port": node_port}]},
            opts=opts)
        pulumi.export("node_port", service.spec["ports"][0]["node_port"])

    project = "maas-k8s-it"
    stack = auto.create_stack(
        stack_name="it", project_name=project, program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path), env_vars=env, secrets_provider="passphrase",
            project_settings=auto.ProjectSettings(
                name=project, runtime="python", backend=auto.ProjectBackend(url=env["PULUMI_BACKEND_URL"])),
            pulumi_command=auto.PulumiCommand(root=str(pulumi_root))))
    try:
        up = stack.up(on_output=print)
        assert up.summary.result == "succeeded"
        assert up.outputs["node_port"].value == node_port
        # the engine waited for the rollout (the provider's await logic): it answers at once
        assert http_get(f"http://127.0.0.1:{node_port}/", timeout=30).startswith("web-")
        deployment = json.loads(kubectl("-n", namespace, "get", "deployment", "web", "-o", "json").stdout)
        assert deployment["status"]["readyReplicas"] == 2
        resources = stack.export_stack().deployment["resources"]
        assert {r["type"] for r in resources} >= {"pulumi:providers:kubernetes", "kubernetes:apps/v1:Deployment",
                                                  "kubernetes:core/v1:Service", "kubernetes:core/v1:Namespace"}
        assert {r["inputs"].get("version") for r in resources if r["type"] == "pulumi:providers:kubernetes"} \
            == {PLUGIN_VERSION}
    finally:
        destroy = stack.destroy(on_output=print)
    assert destroy.summary.result == "succeeded"
    gone = kubectl("get", "namespace", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
