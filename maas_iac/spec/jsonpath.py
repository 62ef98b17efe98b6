"""Render document paths as JSON paths: ``("serving", "ports", "rest")`` → ``$.serving.ports.rest``."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["render_path"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def render_path(path: Iterable[str | int], root: str = "$") -> str:
    """``$`` followed by ``.key`` for identifier-like keys, ``['key']`` for others, ``[i]`` for
    list indexes."""
    out = [root]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)
