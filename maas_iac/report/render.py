"""Reporters over a :class:`~maas_iac.report.changes.PreviewReport`: text, JSON, Markdown.

The Markdown is a pull-request card: one line of totals, then one section per changed model
(destructive ones first) with old → new Git SHA and subject, digest, image (rebuild or cache
hit, bytes to push), replicas, router, the Kafka bridge (its containers and its consumer
group's lag), topics and a small Mermaid diagram of the changed resources; unchanged models and everything outside the models take one line each.
"""

from __future__ import annotations

import json
from typing import Optional

from maas_iac.report.changes import BridgeChange, ModelChange, PreviewReport, TopicChange

__all__ = ["human_bytes", "render_json", "render_markdown", "render_text"]

_OP_WORDS = {"create": "create", "update": "update in place", "replace": "replace", "delete": "delete"}


def human_bytes(n: Optional[int]) -> str:
    """``1536`` → ``1.5 KiB``; ``None`` → ``unknown``."""
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _short(sha: Optional[str]) -> str:
    return sha[:7] if sha else "?"


def _digest(d: Optional[str]) -> str:
    return d[:12] if d else "?"


def _image_digest(d: Optional[str]) -> str:
    """``sha256:`` and the first 12 hex digits of a manifest digest."""
    return d[:len("sha256:") + 12] if d else "?"


def _versions(v: tuple[int, ...]) -> str:
    return ", ".join(map(str, v)) if v else "?"


def _arrow(old: str, new: str) -> str:
    return new if old == new else f"{old} → {new}"


def _headline(report: PreviewReport) -> str:
    changed = report.changed_models
    if not report.has_changes:
        return f"no changes: {_plural(len(report.models), 'model')} unchanged"
    parts = [f"{_plural(len(changed), 'model')} changed"]
    by_class = {}
    for m in changed:
        by_class[m.change_class] = by_class.get(m.change_class, 0) + 1
    if by_class:
        parts[0] += " (" + ", ".join(f"{n} {c}" for c, n in by_class.items()) + ")"
    unchanged = len(report.models) - len(changed)
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    return ", ".join(parts)


def _other_line(report: PreviewReport) -> str:
    other = report.other
    if not other.changed:
        return f"other resources: no changes ({_plural(sum(other.counts.values()), 'resource')})"
    counts = ", ".join(f"{n} to {op}" for op, n in sorted(other.counts.items()) if op != "same")
    names = ", ".join(f"{c.name} ({c.op})" for c in other.changed)
    return f"other resources: {counts}: {names}"


def _git_line(m: ModelChange) -> str:
    if m.old_sha == m.new_sha:
        return f"{_short(m.new_sha)} {m.new_subject or ''}".rstrip() + " (unchanged)"
    old = f"{_short(m.old_sha)} {m.old_subject or ''}".rstrip() if m.old_sha else "none"
    new = f"{_short(m.new_sha)} {m.new_subject or ''}".rstrip() if m.new_sha else "none"
    return f"{old} → {new}"


def _image_line(m: ModelChange) -> str:
    img = m.image
    if img is None:
        return "none"
    promoted = f"promoted from {img.promoted_from or '?'} at {_image_digest(img.promoted_image)}"
    if img.action == "unchanged":
        return f"{img.new_tag or img.old_tag} (unchanged)" + (f", {promoted}" if img.promoted_image else "")
    tags = _arrow(img.old_tag or "none", img.new_tag or "none")
    if img.action == "promoted":
        return f"{tags}: {promoted}, nothing to build"
    if img.action == "cache hit":
        return f"{tags}: cache hit, nothing to build or push"
    if img.action == "rebuild":
        return f"{tags}: rebuild, {human_bytes(img.bytes_to_push)} of new layers to push"
    return f"{tags}: the registry could not be asked whether it has this tag"


def _containers_line(created: tuple[str, ...], replaced: tuple[str, ...], deleted: tuple[str, ...],
                     updated: tuple[str, ...], old: int, new: int) -> str:
    parts = []
    for label, names in (("created", created), ("replaced", replaced), ("deleted", deleted),
                         ("updated in place", updated)):
        if names:
            parts.append(f"{len(names)} {label} ({', '.join(names)})")
    total = f"{new} in total" if old == new else f"{old} → {new} in total"
    return f"{'; '.join(parts)}; {total}" if parts else f"no change ({total})"


def _replicas_line(m: ModelChange) -> str:
    return _containers_line(m.replicas_created, m.replicas_replaced, m.replicas_deleted, m.replicas_updated,
                            m.old_replicas if m.old_replicas is not None else 0,
                            m.new_replicas if m.new_replicas is not None else 0)


def _bridge_line(b: BridgeChange) -> str:
    containers = _containers_line(b.created, b.replaced, b.deleted, b.updated, b.old_consumers, b.new_consumers)
    if b.group is None:
        return f"{containers}; consumer group lag unknown (the broker could not be asked)"
    members = f"{b.members} member{'' if b.members == 1 else 's'}"
    return f"{containers}; group {b.group}: {members} ({b.state}), lag {b.lag}"


def _router_line(m: ModelChange) -> str:
    r = m.router
    if r is None:
        return "no change"
    name = r.live_name or r.name
    text = f"{_OP_WORDS.get(r.op, r.op)} {name}"
    if r.keys:
        text += f" ({', '.join(r.keys)})"
    if r.op == "replace":
        text += ", delete before create" if r.delete_first else ", create before delete"
    return text


def _topic_line(t: TopicChange) -> str:
    text = f"{t.name}: {_OP_WORDS.get(t.op, t.op)}"
    details = []
    if t.old_partitions is not None and t.new_partitions is not None and t.old_partitions != t.new_partitions:
        details.append(f"partitions {t.old_partitions} → {t.new_partitions}")
    for key, (old, new) in t.config.items():
        details.append(f"{key} {old if old is not None else 'default'} → {new if new is not None else 'default'}")
    if not details and t.keys:
        details.append(", ".join(t.keys))
    if details:
        text += " (" + "; ".join(details) + ")"
    if t.destructive:
        text += ", data lost"
    return text


def _rows(m: ModelChange) -> list[tuple[str, str]]:
    rows = [
        ("Git", _git_line(m)),
        ("Digest", _arrow(_digest(m.old_digest), _digest(m.new_digest))),
        ("Versions", _arrow(_versions(m.old_versions), _versions(m.new_versions))),
        ("Image", _image_line(m)),
        ("Replicas", _replicas_line(m)),
        ("Router", _router_line(m)),
    ]
    if m.bridge is not None:
        rows.append(("Bridge", _bridge_line(m.bridge)))
    rows.append(("Topics", "; ".join(_topic_line(t) for t in m.topics) if m.topics else "no change"))
    return rows


def render_text(report: PreviewReport) -> str:
    """A few lines per changed model, destructive ones first, then one line for the rest."""
    lines = [f"stack {report.stack}: {_headline(report)}"]
    for m in report.changed_models:
        lines.append("")
        lines.append(f"{m.model}: {m.change_class}")
        lines += [f"  ! {reason}" for reason in m.reasons]
        lines += [f"  - {note}" for note in m.notes]
        for label, value in _rows(m):
            lines.append(f"  {label + ':':<10}{value}")
    unchanged = [m.model for m in report.models if not m.changed]
    lines.append("")
    if unchanged:
        lines.append(f"unchanged models: {', '.join(unchanged)}")
    lines.append(_other_line(report))
    return "\n".join(lines)


def render_json(report: PreviewReport) -> str:
    """:meth:`PreviewReport.to_dict` as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)


_MERMAID_CLASS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


def mermaid(m: ModelChange) -> str:
    """A left-to-right graph of the model's changed resources, coloured by operation."""
    lines = ["graph LR"]
    root = _node_id(m.model)
    lines.append(f'  {root}["{m.model}"]')
    for i, r in enumerate(m.resources):
        node = f"{root}_{i}"
        label = f"{r.role}: {r.live_name or r.name}<br/>{_OP_WORDS.get(r.op, r.op)}"
        if r.op == "replace":
            label += " (delete first)" if r.delete_first else " (create first)"
        lines.append(f'  {root} --> {node}["{label}"]:::{_MERMAID_CLASS.get(r.op, "update")}')
    lines += [
        "  classDef create fill:#dafbe1,stroke:#1a7f37",
        "  classDef update fill:#ddf4ff,stroke:#0969da",
        "  classDef replace fill:#fff8c5,stroke:#9a6700",
        "  classDef delete fill:#ffebe9,stroke:#cf222e",
    ]
    return "\n".join(lines)


def _node_id(name: str) -> str:
    return "m_" + "".join(c if c.isalnum() else "_" for c in name)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: PreviewReport, *, diagrams: bool = True) -> str:
    """The pull-request card."""
    out = [f"### maas preview: stack `{report.stack}`", "", f"**{_headline(report)}**"]
    for m in report.changed_models:
        out += ["", f"#### `{m.model}`: {m.change_class}"]
        if m.reasons or m.notes:
            out.append("")
            out += [f"- **{m.change_class}:** {_md(r)}" for r in m.reasons]
            out += [f"- {_md(n)}" for n in m.notes]
        out += ["", "| | |", "|---|---|"]
        out += [f"| {label} | {_md(value)} |" for label, value in _rows(m)]
        if diagrams and m.resources:
            out += ["", "<details><summary>Resources</summary>", "", "```mermaid", mermaid(m), "```", "", "</details>"]
    out.append("")
    unchanged = [f"`{m.model}`" for m in report.models if not m.changed]
    if unchanged:
        out.append(f"Unchanged models: {', '.join(unchanged)}  ")
    out.append(_md(_other_line(report)[0].upper() + _other_line(report)[1:]))
    return "\n".join(out) + "\n"
