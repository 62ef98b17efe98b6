"""Re-record the engine events the report's golden tests read (needs the engine and services).

    python tests/unit/report/record_fixtures.py [--keep]

Deploys the example model (one replica) in a scratch project as stack ``pvw`` (port offset
3000), then records the preview's engine events for four cases into ``fixtures/``:
``unchanged``, ``model-change`` (ref v1 → v2), ``replica-change`` (replicas 1 → 2) and
``destructive-topic`` (requests partitions 3 → 1 with the destructive opt-in). Each fixture
is ``{"case", "stack", "events": [engine events as the engine sent them]}`` without the
stdout and debug events. The stack is destroyed afterwards unless ``--keep``.

:data:`CASES` is the one description of the cases: tests/components/test_recorded_previews.py
runs the program under mocks on the same specs and fails when the recorded inputs no longer
match what the program registers (then re-record). The ``v2`` commit has fixed dates, so its
SHA depends only on the example repository's ``v1`` commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from maas_iac.automation import scratch_project, select_stack
from maas_iac.examples.example_repo import MODEL_PATH, ensure_example_repo

FIXTURES = Path(__file__).parent / "fixtures"
STACK = "pvw"
SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: half-plus-two
source:
  repository: {repository}
  ref: {ref}
  path: {path}
  versions:
    policy: latest
    count: 1
serving:
  replicas: {replicas}
  ports:
    rest: 8501
    grpc: 8500
  health:
    intervalSeconds: 1
    timeoutSeconds: 2
    startPeriodSeconds: 0
    retries: 30
  drainSeconds: 1
topics:
  requests:
    partitions: {partitions}
  predictions:
    partitions: 3
  allowDestructiveChanges: {destructive}
rollout:
  healthTimeoutSeconds: 120
"""
CONFIG = {
    "maas:registry": "127.0.0.1:5000",
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": {"bootstrapServers": "127.0.0.1:9092"},
    "maas:portOffset": "3000",
    "maas:servingBaseImage": "127.0.0.1:5000/maas/serving:2.21.0",
    "maas:routerImage": "127.0.0.1:5000/maas/haproxy:2.6",
    "maas:network": f"maas-{STACK}",
}


def model_repo(dest: Path) -> Path:
    """A copy of the example repository with a ``v2`` tag that also serves version 2."""
    subprocess.run(["git", "clone", "-q", str(ensure_example_repo()), str(dest)], check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "ML Engineer", "GIT_AUTHOR_EMAIL": "ml@example.com",
           "GIT_COMMITTER_NAME": "ML Engineer", "GIT_COMMITTER_EMAIL": "ml@example.com",
           "GIT_AUTHOR_DATE": V2_DATE, "GIT_COMMITTER_DATE": V2_DATE}
    shutil.copytree(dest / MODEL_PATH / "1", dest / MODEL_PATH / "2")
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "half-plus-two: version 2, same weights"], cwd=dest, check=True, env=env)
    subprocess.run(["git", "tag", "v2"], cwd=dest, check=True, env=env)
    return dest


V2_DATE = "2026-01-01T00:00:00+00:00"
CASES: dict[str, dict] = {
    "unchanged": {},
    "model-change": {"ref": "v2"},
    "replica-change": {"replicas": 2},
    "destructive-topic": {"partitions": 1, "destructive": True},
}
"""Each recorded case: the arguments of :func:`spec` previewed over the deployed ``spec(repo)``."""


def live_topics(stack: str) -> list[str]:
    """The topics that exist when the cases are previewed (the stack is deployed first)."""
    return [f"{stack}.model-events", f"{stack}.half-plus-two.requests", f"{stack}.half-plus-two.predictions"]


def spec(repository: Path, ref: str = "v1", replicas: int = 1, partitions: int = 3, destructive: bool = False) -> str:
    return SPEC.format(repository=repository, ref=ref, path=MODEL_PATH, replicas=replicas, partitions=partitions,
                       destructive=str(destructive).lower())


def record(stack, case: str) -> None:
    """Preview ``stack`` through the Automation API, keeping each event as the engine sent it."""
    from pulumi.automation import events

    raw: list[dict] = []
    parse = events.EngineEvent.from_json.__func__

    def keep(cls, data: dict):
        raw.append(data)
        return parse(cls, data)

    events.EngineEvent.from_json = classmethod(keep)
    try:
        stack.preview(on_event=lambda _e: None, on_output=lambda _line: None)
    finally:
        events.EngineEvent.from_json = classmethod(parse)
    kept = [e for e in raw if "stdoutEvent" not in e
            and (e.get("diagnosticEvent") or {}).get("severity") != "debug"]
    (FIXTURES / f"{case}.json").write_text(
        json.dumps({"case": case, "stack": STACK, "events": kept}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {case}: {len(kept)} events")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack deployed")
    parser.add_argument("--work", type=Path, help="reuse the work directory a --keep run left")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="also write the deployed stack's exported deployment (pulumi stack export) to FILE")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="maas-pvw-record-"))
    repo = work / "repo" if args.work else model_repo(work / "repo")
    project = scratch_project(work / "project", STACK, CONFIG, {"half-plus-two.yaml": spec(repo)})
    # The scratch project's own state, never the checkout's backend that scripts/env names.
    os.environ["PULUMI_BACKEND_URL"] = f"file://{project}/.pulumi-state"
    stack = select_stack(STACK, project)
    models = project / "models" / "half-plus-two.yaml"
    try:
        stack.up(on_output=lambda _line: None)
        if args.export:
            args.export.write_text(json.dumps(stack.export_stack().deployment, indent=1, sort_keys=True) + "\n")
        for case, kwargs in CASES.items():
            models.write_text(spec(repo, **kwargs))
            record(stack, case)
        models.write_text(spec(repo))
    finally:
        if not args.keep:
            stack.destroy(on_output=lambda _line: None)
            stack.workspace.remove_stack(STACK)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: project {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
