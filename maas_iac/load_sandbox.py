"""The SavedModel load check, run in a locked-down container of the serving image.

Loading a SavedModel runs its graph: the model server calls every signature on a synthetic
input while loading, and a graph can read and write files (``tf.io.read_file``,
``tf.io.write_file``). Model repositories arrive in pull requests and ``maas preview`` runs on
them with the CI runner's credentials, so the check never runs on the host: it runs
``python3 -m maas_dataplane.load_check`` in a container of the serving image with

* no network (``network_mode="none"``: only a loopback interface of its own);
* a read-only root file system, a small ``noexec`` tmpfs on ``/tmp``, user ``nobody``;
* only the version directories under check, mounted read-only;
* no environment from the host: the image's own, plus ``TF_CPP_MIN_LOG_LEVEL`` and
  ``CUDA_VISIBLE_DEVICES``;
* every capability dropped, ``no-new-privileges``, and memory, CPU and process limits;
* a wall-clock limit, after which the container is killed; it is removed in every case.

The Docker client is a parameter (default ``docker.from_env()``), so the caller decides which
engine runs the check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maas_dataplane.contract import PYTHON
from maas_iac.errors import InfrastructureError

__all__ = [
    "DEFAULT_LOAD_CHECK_IMAGE",
    "LoadCheckSandbox",
    "SandboxLimits",
    "SandboxResult",
    "SandboxTimeout",
    "is_serving_image",
    "run_sandboxed",
]

DEFAULT_LOAD_CHECK_IMAGE = "127.0.0.1:5000/maas/serving:2.21.0"
"""The project's serving image (scripts/build_serving_image.sh): it holds maas_dataplane."""
IMAGE_OVERRIDE_ENV = "MAAS_LOAD_CHECK_IMAGE"
"""When set, the image every load check runs in (e.g. a local build of the serving image)."""
MODELS_DIR = "/models"
"""Where the version directories appear in the container, as ``/models/<version>``."""
SANDBOX_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}
"""The whole environment the check is given (on top of the image's own)."""
NOBODY = "65534:65534"
_LABEL = {"io.maas-iac.role": "load-check"}


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    memory: str = "2g"
    """Memory (and memory+swap: no swap)."""
    cpus: float = 1.0
    pids: int = 256
    tmp_size: str = "64m"
    """Size of the ``/tmp`` tmpfs."""
    timeout_s: float = 300.0
    """Wall-clock limit; the container is killed after it."""


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int
    stdout: str
    stderr: str


class SandboxTimeout(Exception):
    """The sandboxed command ran past its wall-clock limit and was killed."""


def _client(client: Any | None) -> Any:
    if client is not None:
        return client
    import docker

    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"the SavedModel load check needs a Docker engine: {exc}") from None


def run_sandboxed(client: Any | None, image: str, command: Sequence[str], *,
                  mounts: Mapping[str, str] | None = None, limits: SandboxLimits | None = None,
                  environment: Mapping[str, str] | None = None) -> SandboxResult:
    """Run ``command`` (argv, no shell) in a locked-down container of ``image``.

    ``mounts`` maps container paths to host directories, each mounted read-only; nothing else
    of the host is visible. Raises :class:`SandboxTimeout` when the limit passes (the
    container is killed), :class:`InfrastructureError` when Docker fails."""
    import docker
    import requests

    client = _client(client)
    limits = limits or SandboxLimits()
    volumes = {str(Path(host)): {"bind": inside, "mode": "ro"} for inside, host in (mounts or {}).items()}
    try:
        container = client.containers.create(
            image,
            entrypoint=[command[0]],
            command=list(command[1:]),
            environment=dict(SANDBOX_ENV if environment is None else environment),
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmp_size}"},
            user=NOBODY,
            working_dir="/tmp",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=limits.memory,
            memswap_limit=limits.memory,
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            ipc_mode="private",
            volumes=volumes,
            labels=dict(_LABEL),
            detach=True,
            stdin_open=False,
            tty=False,
        )
    except docker.errors.ImageNotFound:
        raise InfrastructureError(f"the load check image {image} is not on the Docker engine; "
                                  f"build it with scripts/build_serving_image.sh") from None
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"cannot create the load check container: {exc}") from None
    try:
        container.start()
        try:
            status = container.wait(timeout=limits.timeout_s)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            with contextlib.suppress(docker.errors.DockerException):
                container.kill()
            raise SandboxTimeout(f"still running after {limits.timeout_s:g}s") from None
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return SandboxResult(int(status.get("StatusCode", -1)), out, err)
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"the load check container failed: {exc}") from None
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)


def is_serving_image(client: Any, image: str) -> bool:
    """Whether ``image`` is the project's serving image (on the engine, with maas_dataplane on
    its Python path), as opposed to e.g. the official TF Serving image (no Python)."""
    import docker

    try:
        env = client.images.get(image).attrs.get("Config", {}).get("Env") or []
    except docker.errors.DockerException:
        return False
    return any(e.startswith("PYTHONPATH=") and "/opt/maas/app" in e for e in env)


@dataclass
class LoadCheckSandbox:
    """Runs ``maas_dataplane.load_check`` for :func:`maas_iac.resolve.check_loadable`.

    ``image`` is the stack's serving base image; when that is not the project's serving image
    (e.g. ``tensorflow/serving``, which has no Python), :data:`DEFAULT_LOAD_CHECK_IMAGE` runs
    the check; ``$MAAS_LOAD_CHECK_IMAGE``, when set, runs every check. Calling it with the model name and ``{version: host directory}`` returns the
    sandboxed run's result."""

    image: str | None = None
    client: Any | None = None
    connect: Callable[[], Any] | None = None
    """Opens the stack's Docker client (``clients.docker.open_docker``), only when a check runs."""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    _chosen: str | None = field(default=None, init=False, repr=False)

    def chosen_image(self) -> str:
        if self._chosen is None:
            if self.client is None and self.connect is not None:
                self.client = self.connect()
            self.client = _client(self.client)
            override = os.environ.get(IMAGE_OVERRIDE_ENV)
            if override:
                self._chosen = override
            elif self.image and is_serving_image(self.client, self.image):
                self._chosen = self.image
            else:
                self._chosen = DEFAULT_LOAD_CHECK_IMAGE
        return self._chosen

    def __call__(self, model: str, versions: Mapping[int, Path], timeout_s: float | None = None) -> SandboxResult:
        image = self.chosen_image()
        mounts = {f"{MODELS_DIR}/{v}": str(path) for v, path in sorted(versions.items())}
        args = [f"{v}:{MODELS_DIR}/{v}" for v in sorted(versions)]
        limits = self.limits if timeout_s is None else SandboxLimits(
            self.limits.memory, self.limits.cpus, self.limits.pids, self.limits.tmp_size, timeout_s)
        result = run_sandboxed(self.client, image, [PYTHON, "-m", "maas_dataplane.load_check", model, *args],
                               mounts=mounts, limits=limits)
        if result.exit_code and "No module named 'maas_dataplane'" in result.stderr:
            raise InfrastructureError(f"the load check image {image} has no maas_dataplane (an older build?); "
                                      f"rebuild it with scripts/build_serving_image.sh")
        return result
