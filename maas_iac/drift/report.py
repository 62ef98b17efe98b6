"""Drift as plain data (:class:`DriftReport`) and its text and JSON reporters.

Findings come from two places: the engine's preview of a refresh (what the next ``up`` would
change because the world moved) and the runtime checks (:mod:`maas_iac.drift.runtime`). A
thing found by both is listed once, with every problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from maas_iac.clients.kafka import GroupLag
from maas_iac.drift.runtime import Finding
from maas_iac.report.changes import PreviewReport

__all__ = ["DriftReport", "merge_findings", "refresh_findings", "render_json", "render_text"]

_NEXT_UP = {"create": "the next up creates it again", "replace": "the next up replaces it",
            "update": "the next up updates it in place", "delete": "the next up deletes it"}


def refresh_findings(report: PreviewReport) -> list[Finding]:
    """What the preview of a refresh would change, as findings (one per changed resource)."""
    findings = []
    for m in report.models:
        for r in m.resources:
            if r.role == "event":
                continue
            findings.append(Finding(r.role, r.live_name or r.name, (_next_up(r.op, r.keys),), m.model))
    for r in report.other.changed:
        findings.append(Finding("other", r.name, (_next_up(r.op, r.keys),)))
    return findings


def _next_up(op: str, keys: Iterable[str]) -> str:
    keys = list(keys)
    return _NEXT_UP.get(op, f"the next up runs {op}") + (f" ({', '.join(keys)})" if keys else "")


def merge_findings(*groups: Iterable[Finding]) -> list[Finding]:
    """One finding per (kind, name), problems in the order found, sorted by model and name."""
    merged: dict[tuple[str, str], Finding] = {}
    for finding in (f for group in groups for f in group):
        key = (finding.kind, finding.name)
        if key in merged:
            old = merged[key]
            problems = old.problems + tuple(p for p in finding.problems if p not in old.problems)
            merged[key] = Finding(old.kind, old.name, problems, old.model or finding.model)
        else:
            merged[key] = finding
    return sorted(merged.values(), key=lambda f: (f.model or "", f.kind, f.name))


@dataclass(frozen=True)
class DriftReport:
    """Everything ``maas drift`` found on one stack."""

    stack: str
    findings: tuple[Finding, ...]
    resources: int
    """Resources the refresh read."""
    containers: int
    """Replica, router and bridge containers checked."""
    topics: int
    """Topics checked on the broker."""
    groups: tuple[GroupLag, ...] = ()
    """The bridges' consumer groups, with their lag."""
    deployments: int = 0
    """Kubernetes Deployments checked (a stack whose engine is kubernetes)."""

    @property
    def drift(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "drift": self.drift, "findings": [f.to_dict() for f in self.findings],
                "checked": {"resources": self.resources, "containers": self.containers, "topics": self.topics,
                            **({"deployments": self.deployments} if self.deployments else {})},
                "bridgeGroups": [{"group": g.group, "topic": g.topic, "state": g.state, "members": g.members,
                                  "lag": g.lag, "partitions": [{"partition": p, "committed": c, "end": e}
                                                               for p, c, e in g.partitions]}
                                 for g in self.groups]}


def render_text(report: DriftReport) -> str:
    workloads = (f"{report.deployments} Deployments" if report.deployments
                 else f"{report.containers} containers")
    checked = f"{report.resources} resources refreshed, {workloads} and {report.topics} topics checked"
    groups = [f"  bridge {g.describe()}" for g in report.groups]
    if not report.drift:
        return "\n".join([f"stack {report.stack}: no drift ({checked})", *groups])
    lines = [f"stack {report.stack}: drift in {len(report.findings)} "
             f"thing{'' if len(report.findings) == 1 else 's'} ({checked})"]
    for f in report.findings:
        model = f" [{f.model}]" if f.model else ""
        lines.append(f"  {f.kind} {f.name}{model}: {'; '.join(f.problems)}")
    return "\n".join(lines + groups)


def render_json(report: DriftReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
