"""Load SavedModel versions the way the model server does, and report the ones that fail.

    python -m maas_dataplane.load_check MODEL VERSION:PATH [VERSION:PATH ...]

Prints one JSON object on its last line: ``{"<version>": "<why it does not load>"}`` for
each failing version (``{}`` when all load). Exit status 0 whenever the check itself ran.
The control plane runs it before building an image, so a corrupt version fails the preview.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["check", "main"]

MAX_REASON = 300
"""Longest reason reported per version, in characters."""


def check(model: str, versions: dict[int, str]) -> dict[str, str]:
    """``{version: reason}`` for every version in ``versions`` (version → path) that does not load."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from maas_dataplane.model_server.servable import LoadedVersion

    failures: dict[str, str] = {}
    for version, path in sorted(versions.items()):
        try:
            LoadedVersion(model, version, path)
        except Exception as exc:  # any reason a version does not load is reported, not raised
            text = " ".join(str(exc).split()) or type(exc).__name__
            failures[str(version)] = text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
    return failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m maas_dataplane.load_check MODEL VERSION:PATH [VERSION:PATH ...]", file=sys.stderr)
        return 2
    versions = {}
    for item in args[1:]:
        version, _, path = item.partition(":")
        if not version.isdigit() or not path:
            print(f"not VERSION:PATH: {item!r}", file=sys.stderr)
            return 2
        versions[int(version)] = path
    print(json.dumps(check(args[0], versions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
