"""``maas``: the command-line entry point, a small flat dispatcher.

Each command is one module in this package listed in :data:`COMMANDS`. A command module is
cheap to import and provides::

    HELP: str                                   one line for ``maas --help``
    def add_arguments(parser) -> None           its options (argparse)
    def run(args: argparse.Namespace) -> int    the work; heavy imports go inside run()

Adding a command is adding a module and its name to :data:`COMMANDS`.

Exit codes: 0 success; 1 changes or drift found (commands that report them); 2 user error
(invalid specs or arguments; every problem listed); 3 infrastructure error; 70 internal error
(a bug in maas-iac: one short line, ``--debug`` shows the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["COMMANDS", "EXIT_INTERNAL", "build_parser", "main"]

COMMANDS: tuple[str, ...] = ("validate", "preview", "drift", "predict", "promote")
"""Command names; each is the module ``maas_iac.cli.<name>`` (``-`` becomes ``_``)."""
EXIT_INTERNAL = 70
"""Exit status for an unexpected internal error."""
EXIT_INTERRUPTED = 130


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"maas_iac.cli.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    """The ``maas`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="maas",
        description="Declarative Model-as-a-Service on Pulumi.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _module(name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        cmd.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of internal errors"
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``maas`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print(f"maas {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        from maas_iac.errors import MaasError, SpecError

        if isinstance(exc, SpecError):
            print(exc.render(), file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, MaasError):
            print(f"maas {args.command} failed: {exc}", file=sys.stderr)
            return exc.exit_code
        if debug:
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"maas {args.command}: internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
            "this is a bug in maas-iac: rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
