"""Runtime checks on a Kubernetes stack: each Deployment the state records against the one
the API server holds, and Deployments labelled for the stack that the state does not know.

What is compared is what the stack declares and a person could change by hand: the replica
count and, per container, the image, command, arguments and environment (names and sources,
never values). A deleted or rescheduled pod is the Deployment's business, not drift: its
controller brings the declared pods back by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maas_iac.drift.runtime import Finding, KubeWorkload, StateView

__all__ = ["check_deployments"]


def _containers(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    pod = ((spec.get("template") or {}).get("spec") or {})
    return {str(c.get("name")): c for c in pod.get("containers") or []}


def _env(container: Mapping[str, Any]) -> dict[str, Any]:
    return {str(e.get("name")): e.get("valueFrom") or ("value", e.get("value")) for e in container.get("env") or []}


def _container_problems(name: str, want: Mapping[str, Any], have: Mapping[str, Any] | None) -> list[str]:
    if have is None:
        return [f"container {name} is gone from the pod template"]
    problems = []
    if have.get("image") != want.get("image"):
        problems.append(f"container {name} runs image {have.get('image')}, the state says {want.get('image')}")
    for key in ("command", "args"):
        if list(have.get(key) or []) != list(want.get(key) or []):
            problems.append(f"container {name}'s {key} differ from the state's")
    want_env, have_env = _env(want), _env(have)
    changed = sorted(k for k in set(want_env) | set(have_env) if want_env.get(k) != have_env.get(k))
    if changed:
        problems.append(f"container {name}'s environment differs in {', '.join(changed)}")
    return problems


def _deployment_problems(want: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    spec = live.get("spec") or {}
    problems = []
    if spec.get("replicas") != want.get("replicas"):
        problems.append(f"scaled to {spec.get('replicas')} replicas, the state says {want.get('replicas')}")
    have = _containers(spec)
    for name, container in _containers(want).items():
        problems += _container_problems(name, container, have.get(name))
    extra = sorted(set(have) - set(_containers(want)))
    if extra:
        problems.append(f"pod template has containers the state does not: {', '.join(extra)}")
    return problems


def check_deployments(api: Any, view: StateView, stack: str) -> tuple[list[Finding], int]:
    """Findings for the stack's Deployments (``api``: a :class:`~maas_iac.clients.kubernetes.KubeApi`),
    and how many were checked."""
    findings: list[Finding] = []
    workload: KubeWorkload
    for workload in view.workloads:
        live = api.deployment(workload.name)
        if live is None:
            problems = ["Deployment is gone"]
        else:
            problems = _deployment_problems(workload.spec, live)
        if problems:
            findings.append(Finding(workload.role, workload.name, tuple(problems), workload.model))
    known = {w.name for w in view.workloads}
    for live in api.deployments(f"maas.stack={stack}"):
        meta = live.get("metadata") or {}
        if meta.get("name") not in known:
            findings.append(Finding("deployment", str(meta.get("name")),
                                    (f"labelled maas.stack={stack} but not in the stack's state",),
                                    (meta.get("labels") or {}).get("maas.model")))
    return findings, len(view.workloads)
