"""The engine's step events as plain data: one :class:`ResourceStep` per resource URN.

A preview streams ``ResourcePreEvent`` s through the Automation API's ``on_event``; a
replacement arrives as up to three of them (``create-replacement``, ``replace``,
``delete-replaced``) whose order tells create-before-delete from delete-before-create.
:class:`StepCollector` keeps them, with the error diagnostics and the summary, and
:func:`resource_steps` folds them into one step per resource, in the engine's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["ResourceStep", "StepCollector", "resource_steps", "urn_name"]

_REPLACE_OPS = ("create-replacement", "replace", "delete-replaced", "discard-replaced")
_IGNORED_OPS = ("refresh", "read-discard", "remove-pending-replace")
_NOISE = "an unhandled error occurred: program exited with non-zero exit code"


def urn_name(urn: str) -> str:
    """The resource name, the last ``::`` part of a URN."""
    return urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class ResourceStep:
    """What the engine will do to one resource (``op`` is ``same`` when nothing)."""

    urn: str
    type: str
    op: str
    """``same``, ``create``, ``update``, ``replace``, ``delete``, ``read`` (one per resource)."""
    parent: str = ""
    keys: tuple[str, ...] = ()
    """Properties forcing the replacement (``replace``), or changing (``update``)."""
    delete_first: bool = False
    """A replacement deletes the old resource before it creates the new one."""
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)
    old_outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def changed(self) -> bool:
        return self.op not in ("same", "read")


def _plain(value: Any) -> Mapping[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass
class _Raw:
    urn: str
    type: str
    parent: str
    ops: list[str]
    keys: list[str]
    old_inputs: Mapping[str, Any]
    new_inputs: Mapping[str, Any]
    old_outputs: Mapping[str, Any]


def resource_steps(metadata: Iterable[Any]) -> list[ResourceStep]:
    """Fold ``StepEventMetadata`` objects into one :class:`ResourceStep` per URN."""
    by_urn: dict[str, _Raw] = {}
    for m in metadata:
        op = str(getattr(m.op, "value", m.op))
        if op in _IGNORED_OPS:
            continue
        old, new = m.old, m.new
        raw = by_urn.get(m.urn)
        if raw is None:
            raw = by_urn[m.urn] = _Raw(m.urn, m.type, "", [], [], {}, {}, {})
        raw.ops.append(op)
        raw.parent = raw.parent or (new.parent if new else "") or (old.parent if old else "")
        for key in list(m.keys or []) + list(m.diffs or []) + list((m.detailed_diff or {}).keys()):
            if key not in raw.keys and not key.startswith("__"):
                raw.keys.append(key)
        if old is not None and not raw.old_inputs:
            raw.old_inputs, raw.old_outputs = _plain(old.inputs), _plain(old.outputs)
        if new is not None and not raw.new_inputs:
            raw.new_inputs = _plain(new.inputs)
    return [_fold(raw) for raw in by_urn.values()]


def _fold(raw: _Raw) -> ResourceStep:
    ops = raw.ops
    if any(op in _REPLACE_OPS for op in ops):
        op = "replace"
        delete_first = ("delete-replaced" in ops and "create-replacement" in ops
                        and ops.index("delete-replaced") < ops.index("create-replacement"))
    else:
        op = next((o for o in ops if o != "same"), "same")
        delete_first = False
    return ResourceStep(urn=raw.urn, type=raw.type, op=op, parent=raw.parent, keys=tuple(raw.keys),
                        delete_first=delete_first, old_inputs=raw.old_inputs, new_inputs=raw.new_inputs,
                        old_outputs=raw.old_outputs)


class StepCollector:
    """An ``on_event`` callback for ``Stack.preview``: keeps steps, errors and the summary.

    Called from the Automation API's event thread; the lists are only read after the
    preview has returned or raised.
    """

    def __init__(self) -> None:
        self.metadata: list[Any] = []
        self.errors: list[str] = []
        """Error diagnostics, without the engine's generic "program exited" line."""
        self.summary: Optional[Mapping[str, int]] = None

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            self.metadata.append(event.resource_pre_event.metadata)
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error" and _NOISE not in diag.message:
                self.errors.append(diag.message.strip())
        elif event.summary_event is not None:
            self.summary = {str(k): int(v) for k, v in (event.summary_event.resource_changes or {}).items()}

    def steps(self) -> list[ResourceStep]:
        return resource_steps(self.metadata)
