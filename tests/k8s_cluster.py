"""The single-node cluster of ``scripts/services start --k8s`` for the tests that need it.

``cluster_session()`` starts the cluster when it is down and, when it started it, stops it at
the end and checks that nothing is left behind (:func:`leftovers`); a cluster that was already
running is left running. Importable as ``from k8s_cluster import kubectl`` (like ``polling``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "scripts" / "services"
CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
K8S_HOME = Path(os.environ.get("MAAS_K8S_HOME", CACHE / "k8s"))
K8S_RUN = Path(os.environ.get("MAAS_K8S_RUN", "/run/maas-k8s"))
KUBECONFIG = K8S_HOME / "kubeconfig"

__all__ = ["CACHE", "KUBECONFIG", "cluster_session", "get_json", "kubectl", "leftovers"]


def _kubectl_binary() -> str:
    found = sorted(CACHE.glob("kubernetes-v*/bin/kubectl"), key=lambda p: p.stat().st_mtime)
    if not found:
        pytest.fail("the Kubernetes binaries are missing; run scripts/setup --k8s", pytrace=False)
    return str(found[-1])


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """kubectl with the cluster-admin kubeconfig; fails the test on an error unless ``check`` is off."""
    result = subprocess.run([_kubectl_binary(), "--kubeconfig", str(KUBECONFIG), *args], input=input,
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)
    return result


def get_json(*args: str) -> Any:
    """``kubectl get ARGS -o json``, parsed."""
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def leftovers() -> dict[str, list[str]]:
    """What a stopped cluster must not leave behind."""
    rules = []
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            out = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
            rules += [f"{tool} -t {table} {line}" for line in out.splitlines()
                      if "KUBE-" in line or "CNI-" in line]
    mounts = [line for line in Path("/proc/self/mounts").read_text().splitlines()
              if str(K8S_HOME) in line or str(K8S_RUN) in line]
    netns = [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                             text=True).stdout.splitlines() if line.startswith("cni-")]
    bridge = subprocess.run(["ip", "link", "show", "cni0"], capture_output=True, text=True)
    return {"iptables": rules, "mounts": mounts, "netns": netns,
            "bridge": ["cni0"] if bridge.returncode == 0 else []}


@contextmanager
def cluster_session() -> Iterator[None]:
    """The cluster up for the block (see the module's docstring)."""
    was_up = subprocess.run([str(SERVICES), "status", "--k8s"], capture_output=True, text=True).returncode == 0
    if not was_up:
        start = subprocess.run([str(SERVICES), "start", "--k8s"], capture_output=True, text=True)
        assert start.returncode == 0, f"scripts/services start --k8s failed:\n{start.stdout}{start.stderr}"
    yield
    if not was_up:
        stop = subprocess.run([str(SERVICES), "stop", "--k8s"], capture_output=True, text=True)
        assert stop.returncode == 0, f"scripts/services stop --k8s failed:\n{stop.stdout}{stop.stderr}"
        assert leftovers() == {"iptables": [], "mounts": [], "netns": [], "bridge": []}
