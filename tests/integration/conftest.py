"""Fixtures for tests against the real Pulumi engine and the local services.

Nothing here skips: a missing engine or a service that does not answer fails the test with
the command that fixes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PULUMI_VERSION = "v3.260.0"
KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")
DEBIAN = "maas/debian:bookworm"


def _pulumi_root() -> Path:
    """The directory whose bin/ holds the pinned pulumi and its Python plugins."""
    cache = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
    candidates = [cache / f"pulumi-{PULUMI_VERSION}"]
    ambient = shutil.which("pulumi")
    if ambient:
        candidates.append(Path(ambient).resolve().parent.parent)
    for root in candidates:
        pulumi = root / "bin" / "pulumi"
        if pulumi.is_file() and (root / "bin" / "pulumi-resource-pulumi-python").is_file():
            version = subprocess.run([str(pulumi), "version"], capture_output=True, text=True).stdout.strip()
            if version == PULUMI_VERSION:
                return root
    pytest.fail(f"pulumi {PULUMI_VERSION} is not installed; run scripts/setup_pulumi.sh", pytrace=False)


@pytest.fixture(scope="session")
def pulumi_root() -> Path:
    return _pulumi_root()


@pytest.fixture
def engine_env(pulumi_root: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for the CLI: a throwaway file backend and PULUMI_HOME, the passphrase
    secrets provider, and this interpreter for the dynamic-provider plugin."""
    state = tmp_path / "state"
    state.mkdir()
    bin_dirs = [str(pulumi_root / "bin"), str(Path(sys.executable).parent)]
    return {
        "PATH": os.pathsep.join(bin_dirs + [os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "maas-integration-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
    }


@pytest.fixture
def inline_stack(engine_env: dict[str, str], pulumi_root: Path, tmp_path: Path) -> Iterator[Callable]:
    """Factory: inline_stack(program) -> an Automation API stack on the throwaway backend.
    Whatever a test leaves deployed is destroyed afterwards."""
    from pulumi import automation as auto

    stacks = []

    def make(program: Callable[[], None], project: str = "maas-it"):
        stack = auto.create_stack(
            stack_name="it",
            project_name=project,
            program=program,
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(tmp_path),
                env_vars=engine_env,
                secrets_provider="passphrase",
                project_settings=auto.ProjectSettings(
                    name=project, runtime="python",
                    backend=auto.ProjectBackend(url=engine_env["PULUMI_BACKEND_URL"])),
                pulumi_command=auto.PulumiCommand(root=str(pulumi_root)),
            ),
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.destroy()


@pytest.fixture(scope="session")
def debian_image(docker_client) -> str:
    import docker.errors

    try:
        docker_client.images.get(DEBIAN)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{DEBIAN} is missing; run scripts/build_base_images.sh", pytrace=False)
    return DEBIAN


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return KAFKA
