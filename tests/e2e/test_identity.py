"""Identity is an API: a stack deployed by an earlier release previews with no change now.

A scratch stack is deployed with the program of :data:`IDENTITY_BASE` (the tree of that
commit, taken from Git), then previewed on the same state with the program of this checkout.
Every resource must be ``same``: no replacement, no update. Both use the same serving base
image from the registry, so the test measures the control plane's identity (type tokens,
child names, inputs), not a new data-plane image, whose content rightly changes every tag.

When a change deliberately alters an existing resource (a new health check, say), it says so
in the README's upgrade notes and moves :data:`IDENTITY_BASE` to the commit before it, with
the reason in :data:`IDENTITY_BASE_WHY`.
"""

from __future__ import annotations

import subprocess
import tarfile
import io
from pathlib import Path

import pytest

from maas_iac.automation import PROJECT_ROOT, engine_env, scratch_project, select_stack

from .conftest import KAFKA, REGISTRY, ExampleModels, changes, clean_leftovers

pytestmark = pytest.mark.integration

IDENTITY_BASE = "44f05d3d0fc07a6876013da6bee59e0128d2d6f0"
IDENTITY_BASE_WHY = "the last release before the control plane's typed seams and connection settings"
STACK = "identity"
PORT_OFFSET = 3000

CONFIG = {
    "maas:registry": REGISTRY,
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": {"bootstrapServers": KAFKA, "securityProtocol": "PLAINTEXT"},
    "maas:bindAddress": "127.0.0.1",
    "maas:portOffset": PORT_OFFSET,
    "maas:servingBaseImage": f"{REGISTRY}/maas/serving:2.21.0",
    "maas:routerImage": f"{REGISTRY}/maas/haproxy:2.6",
    "maas:protect": False,
    "maas:network": f"maas-{STACK}",
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: idm, owner: ml-platform}}
source:
  repository: {repo}
  ref: v1
  path: models/half_plus_two
  versions: {{policy: latest, count: 1}}
serving:
  replicas: 2
  ports: {{rest: 8501, grpc: 8500}}
  health: {{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 240, retries: 3}}
  drainSeconds: 2
topics:
  requests: {{partitions: 2}}
  predictions: {{partitions: 2}}
"""


def _base_tree(dest: Path) -> None:
    """The program of IDENTITY_BASE: its packages and schemas, exactly as committed."""
    archive = subprocess.run(["git", "archive", "--format=tar", IDENTITY_BASE], cwd=PROJECT_ROOT,
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[0] in ("maas_iac", "maas_dataplane", "schemas")]
        tar.extractall(dest, members=members, filter="data")


def test_a_stack_deployed_by_the_previous_release_previews_with_no_change(
        tmp_path: Path, docker_client, kafka_admin, registry) -> None:
    clean_leftovers(docker_client, kafka_admin, STACK)
    models = ExampleModels(tmp_path / "models-repo")
    spec = {"idm.yaml": SPEC.format(repo=models.path)}
    state = {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "identity-test"}
    (tmp_path / "state").mkdir()

    old_dir = scratch_project(tmp_path / "old", STACK, CONFIG, spec)
    _base_tree(old_dir)
    new_dir = scratch_project(tmp_path / "new", STACK, CONFIG, spec)
    old = select_stack(STACK, old_dir, env=state)
    try:
        up = old.up(on_output=lambda _line: None)
        assert up.summary.result == "succeeded"
        created = up.summary.resource_changes or {}
        assert created.get("create", 0) >= 14, created

        new = select_stack(STACK, new_dir, create=False, env=state)
        preview = new.preview(on_output=lambda _line: None)
        assert changes(preview.change_summary) == {}, (
            f"the program of this checkout changes a stack deployed by {IDENTITY_BASE} "
            f"({IDENTITY_BASE_WHY}): {preview.change_summary}; add aliases, or say why in the README's "
            "upgrade notes and move IDENTITY_BASE")
        assert preview.change_summary.get("same", 0) == created["create"]
    finally:
        select_stack(STACK, new_dir, create=False, env=state).destroy(on_output=lambda _line: None)
        clean_leftovers(docker_client, kafka_admin, STACK)
