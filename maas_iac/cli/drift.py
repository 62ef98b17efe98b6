"""``maas drift --stack S``: does what runs still match the stack?

Two looks, both read-only: the engine's preview of a refresh (``stack.preview(refresh=True)``:
every resource read back from Docker, the registry and Kafka, nothing written to the state),
and runtime checks the state cannot express: the image digest each replica actually runs,
the versions its model server reports AVAILABLE against the versions the state serves,
routers and bridges, containers labelled for the stack but unknown to it, each topic's
partitions, replication factor and declared config keys (broker defaults are never drift),
and each bridge's consumer group: fewer members than bridge containers is drift, its lag on
the requests topic is printed. On a stack whose engine is kubernetes, each Deployment's replica
count, images, commands and environment against the API server's, and Deployments labelled
for the stack but unknown to it (a deleted pod is Kubernetes' own business). Each drifted
thing is named (container or topic name) with what differs.

Exit codes: 0 no drift; 1 drift; 2 user error (invalid specs, unknown stack);
3 infrastructure unreachable (Docker, registry, Kafka, the engine).
"""

from __future__ import annotations

import argparse
import sys

HELP = "compare what actually runs with the stack (exit 0 clean, 1 drift)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack``, ``--format``, ``--cwd``."""
    parser.add_argument("--stack", "-s", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--cwd", metavar="DIR", help="project directory (default: the current directory)")


def run(args: argparse.Namespace) -> int:
    """Refresh preview plus runtime checks; 0 clean, 1 drift."""
    from pulumi import automation as auto

    from maas_iac.drift.report import DriftReport, merge_findings, refresh_findings, render_json, render_text
    from maas_iac.drift.runtime import StateView, check_bridge_groups, check_containers, check_topics
    from maas_iac.clients import Connections
    from maas_iac.clients.kubernetes import open_kube
    from maas_iac.drift.cluster import check_deployments
    from maas_iac.drift.services import docker_client, kafka_admin, unreachable
    from maas_iac.errors import InfrastructureError
    from maas_iac.report import StepCollector, build_report
    from maas_iac.report.engine import engine_config, engine_failure, open_stack, project_dir, validate_target

    project = project_dir(args.cwd, args.stack)
    config = validate_target(project, args.stack)
    stack = open_stack(project, args.stack)
    collector = StepCollector()
    try:
        stack.preview(refresh=True, on_event=collector, on_output=lambda _line: None, diff=False)
    except auto.CommandError as exc:
        raise engine_failure(exc, collector.errors, config, stack) from None
    steps = collector.steps()
    preview = build_report(args.stack, steps)

    config = engine_config(stack, config)
    down = unreachable(config, ("docker", "kafka"))
    if down:
        raise InfrastructureError("; ".join(down) + " (scripts/services status)")
    connections = Connections.from_stack(config)
    view = StateView.from_deployment(stack.export_stack().deployment or {})
    client = docker_client(config)
    try:
        container_findings, containers = check_containers(client, view, args.stack)
    finally:
        client.close()
    deployment_findings: list = []
    deployments = 0
    if connections.kubernetes is not None:
        with open_kube(connections.kubernetes) as api:
            deployment_findings, deployments = check_deployments(api, view, args.stack)
    admin = kafka_admin(config)
    topic_findings = check_topics(admin, view.topics)
    group_findings, groups = check_bridge_groups(admin, view, args.stack)

    refreshed = refresh_findings(preview)
    if deployments:
        # A Deployment the check above found as declared is no drift, whatever the refresh says:
        # the provider re-applies one that is not fully available (a pod deleted or starting),
        # which is the Deployment's own business.
        checked = {w.name for w in view.workloads} - {f.name for f in deployment_findings}
        refreshed = [f for f in refreshed if f.name not in checked]
    report = DriftReport(
        stack=args.stack,
        findings=tuple(merge_findings(container_findings, deployment_findings, refreshed, topic_findings,
                                      group_findings)),
        resources=sum(1 for s in steps if not s.type.startswith(("pulumi:", "maas:"))),
        containers=containers, topics=len(view.topics), groups=tuple(groups), deployments=deployments)
    sys.stdout.write((render_json(report) if args.format == "json" else render_text(report)) + "\n")
    return 1 if report.drift else 0
