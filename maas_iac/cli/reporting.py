"""Reporters: a :class:`~maas_iac.spec.load.ValidationResult` as text or JSON."""

from __future__ import annotations

import json

from maas_iac.spec.load import ValidationResult

__all__ = ["render_json", "render_text"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_text(result: ValidationResult) -> str:
    """One line per problem, an indented ``fix:`` line under each, then a summary line."""
    lines: list[str] = []
    for problem in result.problems:
        lines.append(str(problem))
        if problem.fix:
            lines.append(f"    fix: {problem.fix}")
    checked = f"{_plural(len(result.spec_files), 'model spec')}, {_plural(len(result.stack_files), 'stack config')}"
    if result.ok:
        lines.append(f"ok: {checked} valid")
    else:
        files = {p.file for p in result.problems}
        lines.append(
            f"invalid: {_plural(len(result.problems), 'problem')} in {_plural(len(files), 'file')} ({checked} checked)"
        )
    return "\n".join(lines)


def render_json(result: ValidationResult) -> str:
    """``{"valid", "specFiles", "stackFiles", "models", "stacks", "problems": [...]}``."""
    return json.dumps(
        {
            "valid": result.ok,
            "specFiles": list(result.spec_files),
            "stackFiles": list(result.stack_files),
            "models": [spec.name for spec in result.specs],
            "stacks": [stack.stack for stack in result.stacks],
            "problems": [problem.to_dict() for problem in result.problems],
        },
        indent=2,
    )
