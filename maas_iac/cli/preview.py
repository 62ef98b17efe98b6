"""``maas preview --stack S``: what ``pulumi up`` would change, per model.

Runs a preview of the project's real program through the Automation API and builds the
report from the engine's structured step events (never from its printed text): for each
model, old → new Git SHA with the commit subjects, old → new digest, image rebuild or
registry cache hit with the bytes to push, replicas created, replaced or deleted, router and
the Kafka bridge's containers and its consumer group's lag, topic changes, and a change class (``destructive``, ``rolling``, ``new``, ``in place``),
destructive changes first. Everything outside the models takes one line.

``--format markdown`` renders a pull-request card (with Mermaid diagrams), ``json`` the plain
data, ``text`` (default) a few lines per model.

Exit codes: 0 the preview ran (changes or not); with ``--exit-code``, 0 no changes and 1
changes; 2 user error (invalid specs, listed one per line; unknown stack; a change the
providers refuse); 3 infrastructure unreachable (Docker, registry, Kafka, the engine).
"""

from __future__ import annotations

import argparse
import sys

HELP = "show what `pulumi up` would change, per model (text, JSON or a Markdown PR card)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack``, ``--format``, ``--cwd``, ``--exit-code``, ``--no-diagrams``."""
    parser.add_argument("--stack", "-s", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--cwd", metavar="DIR", help="project directory (default: the current directory)")
    parser.add_argument("--exit-code", action="store_true",
                        help="exit 1 when there are changes (0 when there are none), like git diff --exit-code")
    parser.add_argument("--no-diagrams", action="store_true", help="leave the Mermaid diagrams out of the Markdown")


def run(args: argparse.Namespace) -> int:
    """Preview, report; see the module docstring for the exit codes."""
    from concurrent.futures import ThreadPoolExecutor

    from pulumi import automation as auto

    from maas_iac.errors import MaasError
    from maas_iac.report import StepCollector, build_report, render_json, render_markdown, render_text
    from maas_iac.clients import Connections
    from maas_iac.report.engine import engine_config, engine_failure, open_stack, project_dir, validate_target
    from maas_iac.report.lookups import local_lookups

    project = project_dir(args.cwd, args.stack)
    collector = StepCollector()
    failure = None
    with ThreadPoolExecutor(1) as pool:
        validation = pool.submit(validate_target, project, args.stack)
        try:
            stack = open_stack(project, args.stack)
        except MaasError:
            validation.result()  # invalid specs win here too
            raise
        try:
            stack.preview(on_event=collector, on_output=lambda _line: None, diff=False)
        except auto.CommandError as exc:
            failure = exc
        config = validation.result()  # invalid specs win over whatever the engine said
    if failure is not None:
        # Before any resource exists the program needs only the registry.
        raise engine_failure(failure, collector.errors, config, stack, services=("registry", "docker")) from None
    connections = Connections.from_stack(engine_config(stack, config))
    report = build_report(args.stack, collector.steps(), local_lookups(connections.registry, connections.kafka))
    if args.format == "json":
        text = render_json(report)
    elif args.format == "markdown":
        text = render_markdown(report, diagrams=not args.no_diagrams)
    else:
        text = render_text(report)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 1 if args.exit_code and report.has_changes else 0
