"""What every pod of a model service shares: its labels, resources and pod-level settings."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

__all__ = ["ROLLING", "pod_labels", "pod_spec", "resources", "spec_labels"]

ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
"""A new pod is Ready before an old one goes: a rollout never lowers the serving count."""

_SELECTOR_KEYS = ("maas.stack", "maas.model", "maas.role")


def pod_labels(labels: dict[str, str]) -> dict[str, str]:
    """The selector labels of a workload (stack, model, role): values Kubernetes accepts as
    they are, and never the digest, so a Deployment's selector never changes."""
    return {k: labels[k] for k in _SELECTOR_KEYS if k in labels}


def spec_labels(labels: dict[str, str]) -> dict[str, str]:
    """The spec's free-form labels (``maas.label.*``) as one annotation: their keys and values
    need not be valid Kubernetes label syntax."""
    free = {k[len("maas.label."):]: v for k, v in sorted(labels.items()) if k.startswith("maas.label.")}
    return {"maas.labels": json.dumps(free, sort_keys=True)} if free else {}


def resources(cpus: Optional[float], memory_mb: Optional[int]) -> dict[str, Any]:
    """The spec's ``cpus`` and ``memory`` as limits, caps as they are on Docker. The pod
    requests all of its memory (memory cannot be taken back) but a quarter of its CPU, so the
    extra pod of a rollout still fits on a node its siblings fill."""
    limits: dict[str, str] = {}
    requests = {"cpu": "100m", "memory": "128Mi"}
    if cpus:
        millis = max(1, math.ceil(cpus * 1000))
        limits["cpu"] = f"{millis}m"
        requests["cpu"] = f"{max(1, millis // 4)}m"
    if memory_mb:
        limits["memory"] = requests["memory"] = f"{memory_mb}Mi"
    return {"requests": requests, **({"limits": limits} if limits else {})}


def pod_spec(containers: list[dict[str, Any]], *, grace_s: int, pull_secret: Optional[str],
             host_network: bool = False) -> dict[str, Any]:
    """Pod-level settings: no service-account token and no service environment variables in
    the pod (the model server needs neither), the grace period, the pull secret."""
    spec: dict[str, Any] = {
        "containers": containers,
        "terminationGracePeriodSeconds": grace_s,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if pull_secret:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    if host_network:
        # the broker advertises a loopback address (the local stack): only the host's network
        # namespace reaches it; cluster DNS still resolves the router's Service
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return spec
