"""``maas preview`` and ``maas drift`` against the real engine and services.

The example model (one replica, short health intervals) is deployed as stack ``pvwit`` in a
scratch project with its own state and model repository (port offset 3000, so it never meets
the ``local`` or ``e2e`` stacks). Then: preview reports no changes; a killed replica is drift,
named; after ``up --refresh`` there is none; moving the model's ref to ``v2`` shows exactly
that model changing, with both SHAs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from maas_iac.automation import scratch_project, select_stack
from maas_iac.cli.main import main
from maas_iac.examples.example_repo import MODEL_PATH, ensure_example_repo

pytestmark = pytest.mark.integration

STACK = "pvwit"
SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: half-plus-two
source:
  repository: {repository}
  ref: {ref}
  path: {path}
serving:
  replicas: 1
  ports: {{rest: 8501, grpc: 8500}}
  health: {{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 0, retries: 30}}
  drainSeconds: 1
rollout:
  healthTimeoutSeconds: 120
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "ML Engineer", "GIT_AUTHOR_EMAIL": "ml@example.com",
           "GIT_COMMITTER_NAME": "ML Engineer", "GIT_COMMITTER_EMAIL": "ml@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, registry, kafka_bootstrap, docker_client):
    work = tmp_path_factory.mktemp("pvw")
    repo = work / "repo"
    subprocess.run(["git", "clone", "-q", str(ensure_example_repo()), str(repo)], check=True)
    shutil.copytree(repo / MODEL_PATH / "1", repo / MODEL_PATH / "2")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "half-plus-two: version 2")
    _git(repo, "tag", "v2")
    config = {
        "maas:registry": registry, "maas:dockerHost": "unix:///var/run/docker.sock",
        "maas:kafka": {"bootstrapServers": kafka_bootstrap}, "maas:portOffset": "3000",
        "maas:servingBaseImage": f"{registry}/maas/serving:2.21.0", "maas:routerImage": f"{registry}/maas/haproxy:2.6",
    }
    project = scratch_project(work / "project", STACK, config,
                              {"half-plus-two.yaml": SPEC.format(repository=repo, ref="v1", path=MODEL_PATH)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PULUMI_BACKEND_URL", f"file://{project}/.pulumi-state")
        stack = select_stack(STACK, project)
        try:
            stack.up(on_output=lambda _line: None)
            yield stack, project, repo
        finally:
            stack.destroy(on_output=lambda _line: None)


def _maas(capsys, *args: str) -> tuple[int, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    assert rc in (0, 1), f"maas {' '.join(args)} exited {rc}: {captured.err}"
    return rc, captured.out


def test_preview_of_the_deployed_stack_reports_no_changes(deployed, capsys) -> None:
    _, project, _ = deployed
    rc, out = _maas(capsys, "preview", "--stack", STACK, "--cwd", str(project), "--exit-code", "--format", "json")
    report = json.loads(out)
    assert rc == 0 and report["changes"] is False, out
    assert report["unchangedModels"] == ["half-plus-two"]


def test_a_killed_replica_is_drift_until_up(deployed, capsys, docker_client) -> None:
    stack, project, _ = deployed
    [replica] = [c for c in docker_client.containers.list(filters={"label": f"maas.stack={STACK}"})
                 if c.labels.get("maas.role") == "replica"]
    replica.kill()
    rc, out = _maas(capsys, "drift", "--stack", STACK, "--cwd", str(project), "--format", "json")
    report = json.loads(out)
    assert rc == 1, out
    assert [(f["kind"], f["name"]) for f in report["findings"]] == [("replica", replica.name)]
    assert "not running" in report["findings"][0]["problems"][0]

    stack.up(on_output=lambda _line: None)  # the project refreshes first (Pulumi.yaml)
    rc, out = _maas(capsys, "drift", "--stack", STACK, "--cwd", str(project))
    assert rc == 0, out
    assert out.startswith(f"stack {STACK}: no drift")


def test_a_moved_ref_shows_that_model_with_both_shas(deployed, capsys) -> None:
    _, project, repo = deployed
    spec = project / "models" / "half-plus-two.yaml"
    original = spec.read_text()
    spec.write_text(original.replace("ref: v1", "ref: v2"))
    try:
        rc, out = _maas(capsys, "preview", "--stack", STACK, "--cwd", str(project), "--exit-code", "--format", "json")
    finally:
        spec.write_text(original)
    report = json.loads(out)
    assert rc == 1, out
    [model] = report["models"]
    assert model["model"] == "half-plus-two" and report["other"]["changed"] == []
    assert (model["oldSha"], model["newSha"]) == (_git(repo, "rev-parse", "v1^{commit}"), _git(repo, "rev-parse", "v2^{commit}"))
    assert model["newSubject"] == "half-plus-two: version 2"
    assert model["image"]["action"] == "rebuild" and model["image"]["bytesToPush"] > 0
