"""The SavedModel load check, run in a locked-down container of the serving image.

Loading a SavedModel runs its graph: the model server calls every signature on a synthetic
input while loading, and a graph can read and write files (``tf.io.read_file``,
``tf.io.write_file``). Model repositories arrive in pull requests and ``maas preview`` runs on
them with the CI runner's credentials, so the check never runs on the host: it runs
``python3 -m maas_dataplane.load_check`` in a container of the serving image with

* no network (``network_mode="none"``: only a loopback interface of its own);
* a read-only root file system, a small ``noexec`` tmpfs on ``/tmp``, user ``nobody``;
* only the version directories under check, copied in over the Docker API (never a mount of
  a host path, so it works on a remote engine too) into a volume of its own, owned by root:
  read-only to the check;
* no environment from the host: the image's own, plus ``TF_CPP_MIN_LOG_LEVEL`` and
  ``CUDA_VISIBLE_DEVICES``;
* every capability dropped, ``no-new-privileges``, and memory, CPU and process limits;
* a wall-clock limit, after which the container is killed; it and its volume are removed in
  every case.

The Docker client is a parameter (default: this machine's engine, ``unix:///var/run/docker.sock``), so the caller decides which
engine runs the check.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from maas_dataplane.contract import PYTHON
from maas_iac.errors import InfrastructureError
from maas_iac.source.model_tree import link_may_escape

__all__ = [
    "DEFAULT_LOAD_CHECK_IMAGE",
    "LoadCheckSandbox",
    "SERVING_IMAGE_PATH",
    "SandboxLimits",
    "SandboxResult",
    "SandboxTimeout",
    "input_archive",
    "is_serving_image",
    "load_check_image",
    "run_sandboxed",
]

SERVING_IMAGE_PATH = "maas/serving:2.21.0"
"""The project's serving image (scripts/build_serving_image.sh, it holds maas_dataplane) as a
registry holds it: ``<registry>/maas/serving:2.21.0``."""
DEFAULT_LOAD_CHECK_IMAGE = f"127.0.0.1:5000/{SERVING_IMAGE_PATH}"
"""The serving image on the local registry: the fallback of a :class:`LoadCheckSandbox` not
given the stack's (:func:`load_check_image`)."""
IMAGE_OVERRIDE_ENV = "MAAS_LOAD_CHECK_IMAGE"
"""When set, the image every load check runs in (e.g. a local build of the serving image)."""
MODELS_DIR = "/models"
"""Where the version directories appear in the container, as ``/models/<version>``."""
SANDBOX_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}
"""The whole environment the check is given (on top of the image's own)."""
NOBODY = "65534:65534"
_LABEL = {"io.maas-iac.role": "load-check"}


def load_check_image(registry: str) -> str:
    """The project's serving image on ``registry`` (``host[:port]``, a stack's ``maas:registry``),
    where it is pushed: the load check's image when the stack's serving base image is not it."""
    return f"{registry}/{SERVING_IMAGE_PATH}"


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

    from maas_iac.clients.docker import open_docker
    from maas_iac.clients.endpoints import DockerEndpoint

    try:
        return open_docker(DockerEndpoint())
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"the SavedModel load check needs a Docker engine: {exc}") from None


def run_sandboxed(client: Any | None, image: str, command: Sequence[str], *,
                  inputs: Mapping[str, str | Path] | None = None, limits: SandboxLimits | None = None,
                  environment: Mapping[str, str] | None = None) -> SandboxResult:
    """Run ``command`` (argv, no shell) in a locked-down container of ``image``.

    ``inputs`` maps paths under :data:`MODELS_DIR` in the container to host directories, whose
    contents are copied there (:func:`input_archive`), owned by root and so read-only to the
    command; nothing else of the host is visible. They travel as data over the Docker API,
    never as mounts of host paths, so a remote engine (``ssh://``, ``tcp://``) sees them too.
    The container and its volume are removed in every case. Raises :class:`SandboxTimeout` when
    the limit passes (the container is killed), :class:`InfrastructureError` when Docker fails."""
    import docker
    import requests
    from docker.types import Mount

    client = _client(client)
    limits = limits or SandboxLimits()
    with contextlib.ExitStack() as cleanup:  # callbacks run last-in first-out: the container, then the volume
        archive = cleanup.enter_context(input_archive(inputs or {}))
        try:
            volume = client.volumes.create(name=f"maas-load-check-{uuid.uuid4().hex}", driver="local",
                                           labels=dict(_LABEL))
        except docker.errors.DockerException as exc:
            raise InfrastructureError(f"cannot create the load check volume: {exc}") from None
        cleanup.callback(_quietly, volume.remove, force=True)
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
                # The inputs' only way in. put_archive extracts into a created container's file
                # system with its volumes mounted, but refuses a read-only root file system or
                # volume, and a path under a tmpfs lands in the layer the tmpfs then hides. So
                # /models is a writable volume of the container's own; the members are root's
                # (0755/0644), so user nobody, without capabilities, reads them and writes
                # nothing there. no_copy: it starts empty, not with the image's /models.
                mounts=[Mount(MODELS_DIR, volume.name, type="volume", no_copy=True)],
                labels=dict(_LABEL),
                detach=True,
                stdin_open=False,
                tty=False,
            )
        except docker.errors.ImageNotFound:
            raise InfrastructureError(f"the load check image {image} is not on the Docker engine; build it with "
                                      f"scripts/build_serving_image.sh (and push it to the stack's registry, "
                                      f"as {SERVING_IMAGE_PATH})") from None
        except docker.errors.DockerException as exc:
            raise InfrastructureError(f"cannot create the load check container: {exc}") from None
        cleanup.callback(_quietly, container.remove, force=True, v=True)
        try:
            container.put_archive(MODELS_DIR, archive)
            archive.close()  # the engine has its copy: free the disk while the check runs
            container.start()
            try:
                status = container.wait(timeout=limits.timeout_s)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                _quietly(container.kill)
                raise SandboxTimeout(f"still running after {limits.timeout_s:g}s") from None
            out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return SandboxResult(int(status.get("StatusCode", -1)), out, err)
        except docker.errors.DockerException as exc:
            raise InfrastructureError(f"the load check container failed: {exc}") from None


def _quietly(action: Callable[..., Any], **kwargs: Any) -> None:
    import docker

    with contextlib.suppress(docker.errors.DockerException):
        action(**kwargs)


@contextlib.contextmanager
def input_archive(inputs: Mapping[str, str | Path]) -> Iterator[BinaryIO]:
    """A tar, in a temporary file read from its start, of ``inputs`` (container path under
    :data:`MODELS_DIR` → host directory), named relative to :data:`MODELS_DIR`.

    Members are directories (0755), regular files (0644, 0755 when executable) and symbolic
    links whose target only descends (relative, no ``..``: the rule the model tree's links
    already pass, and how the built image holds them), every one owned by root (0:0). Anything
    else under a directory is refused (:class:`InfrastructureError`), and so is a container
    path outside :data:`MODELS_DIR`, with an empty, ``.`` or ``..`` part, or inside another
    (``ValueError``)."""
    names = sorted(_input_name(inside) for inside in inputs)
    for a, b in zip(names, names[1:]):
        if a == b or b.startswith(a + "/"):
            raise ValueError(f"load check input {MODELS_DIR}/{b} is inside {MODELS_DIR}/{a}")
    with tempfile.TemporaryFile(prefix="maas-load-check-") as file:
        with tarfile.open(fileobj=file, mode="w", format=tarfile.PAX_FORMAT) as tar:
            parents: set[str] = set()
            for inside, host in sorted(inputs.items()):
                name = _input_name(inside)
                for parent in reversed(PurePosixPath(name).parents[:-1]):
                    if str(parent) not in parents:
                        parents.add(str(parent))
                        tar.addfile(_member(str(parent), tarfile.DIRTYPE, 0o755, 0))
                _add_directory(tar, name, Path(host))
        file.seek(0)
        yield file


def _input_name(inside: str) -> str:
    path, base = PurePosixPath(inside), PurePosixPath(MODELS_DIR)
    rel = path.relative_to(base) if path.is_relative_to(base) else None
    if rel is None or not rel.parts or any(p in ("", ".", "..") or "\0" in p for p in rel.parts) \
            or str(path) != inside.rstrip("/"):
        raise ValueError(f"load check input {inside!r} is not a plain path under {MODELS_DIR}/")
    return str(rel)


def _member(name: str, kind: bytes, mode: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, int(mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _add_directory(tar: tarfile.TarFile, name: str, directory: Path) -> None:
    try:
        st = directory.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(directory)
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        raise InfrastructureError(f"the load check input {directory} is not a readable directory: {exc}") from None
    tar.addfile(_member(name, tarfile.DIRTYPE, 0o755, st.st_mtime))
    for entry in entries:
        member = f"{name}/{entry.name}"
        if entry.is_symlink():
            target = os.readlink(entry.path)
            if link_may_escape(target):
                raise InfrastructureError(f"the load check input {entry.path} is a link to {target!r}, which may lead "
                                          f"outside its directory")
            info = _member(member, tarfile.SYMTYPE, 0o777, entry.stat(follow_symlinks=False).st_mtime)
            info.linkname = target
            tar.addfile(info)
        elif entry.is_dir(follow_symlinks=False):
            _add_directory(tar, member, Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            _add_file(tar, member, entry.path)
        else:
            raise InfrastructureError(f"the load check input {entry.path} is not a regular file, directory or link")


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    # O_NOFOLLOW and the fstat: what is read is the regular file listed, not what replaced it since.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InfrastructureError(f"the load check input {path} is not a regular file")
        info = _member(name, tarfile.REGTYPE, 0o755 if st.st_mode & 0o100 else 0o644, st.st_mtime)
        info.size = st.st_size
        tar.addfile(info, file)


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
    (e.g. ``tensorflow/serving``, which has no Python), ``fallback`` runs the check;
    ``$MAAS_LOAD_CHECK_IMAGE``, when set, runs every check. Calling it with the model name and
    ``{version: host directory}`` returns the sandboxed run's result."""

    image: str | None = None
    client: Any | None = None
    connect: Callable[[], Any] | None = None
    """Opens the stack's Docker client (``clients.docker.open_docker``), only when a check runs."""
    pull: Callable[[Any, str], None] | None = None
    """``pull(client, image)`` puts an image on the engine when it lacks it
    (``clients.docker.pull_missing``, logged in to the stack's registry); without it, only the
    engine's own images are used."""
    fallback: str = DEFAULT_LOAD_CHECK_IMAGE
    """The project's serving image where the engine can pull it: :func:`load_check_image` of the
    stack's registry (a remote engine's 127.0.0.1 is its own)."""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    _chosen: str | None = field(default=None, init=False, repr=False)

    def chosen_image(self) -> str:
        if self._chosen is None:
            if self.client is None and self.connect is not None:
                self.client = self.connect()
            self.client = _client(self.client)
            override = os.environ.get(IMAGE_OVERRIDE_ENV)
            if override:
                self._pull(override, needed=False)
                self._chosen = override
                return override
            if self.image:
                self._pull(self.image, needed=False)
            if self.image and is_serving_image(self.client, self.image):
                self._chosen = self.image
            else:
                self._pull(self.fallback, needed=True)
                self._chosen = self.fallback
        return self._chosen

    def _pull(self, image: str, *, needed: bool) -> None:
        """Pull ``image`` when the engine lacks it; a failure is an error only when it is ``needed``
        (an image that cannot be pulled is otherwise just not the project's)."""
        import docker

        if self.pull is None:
            return
        try:
            self.pull(self.client, image)
        except docker.errors.DockerException as exc:
            if needed:
                raise InfrastructureError(
                    f"the load check image {image} is not on the Docker engine and cannot be pulled ({exc}); "
                    f"build it with scripts/build_serving_image.sh and push it to the stack's registry as "
                    f"{SERVING_IMAGE_PATH}") from None

    def __call__(self, model: str, versions: Mapping[int, Path], timeout_s: float | None = None) -> SandboxResult:
        image = self.chosen_image()
        inputs = {f"{MODELS_DIR}/{v}": path for v, path in sorted(versions.items())}
        args = [f"{v}:{MODELS_DIR}/{v}" for v in sorted(versions)]
        limits = self.limits if timeout_s is None else SandboxLimits(
            self.limits.memory, self.limits.cpus, self.limits.pids, self.limits.tmp_size, timeout_s)
        result = run_sandboxed(self.client, image, [PYTHON, "-m", "maas_dataplane.load_check", model, *args],
                               inputs=inputs, limits=limits)
        if result.exit_code and "No module named 'maas_dataplane'" in result.stderr:
            raise InfrastructureError(f"the load check image {image} has no maas_dataplane (an older build?); "
                                      f"rebuild it with scripts/build_serving_image.sh")
        return result
