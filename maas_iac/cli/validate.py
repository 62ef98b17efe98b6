"""``maas validate [PATH...]``: check model specs and stack configs without touching anything.

Checks every file under the given paths (default ``models/`` and ``stacks/``): YAML safety,
the JSON Schemas, and the cross-file rules (unique names, host ports and topic names, labels
on served versions, replica overrides naming real models). Lists every problem at once as
``file:line:col: $.json.path: message`` with a ``fix:`` line.

Exit 0 when everything is valid, 2 when there is any problem.
"""

from __future__ import annotations

import argparse

HELP = "check model specs and stack configs (default: models/ and stacks/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``PATH...`` and ``--format``."""
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="spec or stack files, or directories of *.yaml files (default: models stacks)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )


def run(args: argparse.Namespace) -> int:
    """Validate and report; 0 if valid, 2 otherwise."""
    from maas_iac.cli.reporting import render_json, render_text
    from maas_iac.spec.load import validate_paths

    result = validate_paths(args.paths or None)
    if args.format == "json":
        print(render_json(result))
    else:
        print(render_text(result))
    return 0 if result.ok else 2
