"""What the sandboxed load check asks Docker for, with a recording client (the real engine:
tests/integration/test_load_sandbox.py)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import docker
import pytest
import requests

from maas_dataplane.contract import PYTHON
from maas_iac.errors import InfrastructureError
from maas_iac.load_sandbox import (
    DEFAULT_LOAD_CHECK_IMAGE,
    LoadCheckSandbox,
    SandboxLimits,
    SandboxTimeout,
    input_archive,
    load_check_image,
    run_sandboxed,
)

OURS = ["PYTHONPATH=/opt/maas/app:/opt/maas/site"]


class FakeContainer:
    def __init__(self, log: list[str], wait_raises: bool = False, put_raises: bool = False,
                 stdout: bytes = b"{}\n", stderr: bytes = b"") -> None:
        self.calls = log
        self.wait_raises, self.put_raises = wait_raises, put_raises
        self.out, self.err = stdout, stderr
        self.archives: list[tuple[str, bytes]] = []

    def put_archive(self, path: str, data) -> bool:
        self.calls.append(f"put_archive {path}")
        self.archives.append((path, data.read()))
        if self.put_raises:
            raise docker.errors.APIError("no space left on device")
        return True

    def start(self) -> None:
        self.calls.append("start")

    def wait(self, timeout: float) -> dict:
        self.calls.append(f"wait {timeout:g}")
        if self.wait_raises:
            raise requests.exceptions.ReadTimeout()
        return {"StatusCode": 0}

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return self.out if stdout else self.err

    def kill(self) -> None:
        self.calls.append("kill")

    def remove(self, force: bool, v: bool = False) -> None:
        self.calls.append(f"remove container force={force} v={v}")


class FakeVolume:
    def __init__(self, log: list[str], name: str) -> None:
        self.calls, self.name = log, name

    def remove(self, force: bool) -> None:
        self.calls.append(f"remove volume {self.name}")


class FakeImages:
    def __init__(self, log: list[str], present: dict[str, list[str]]) -> None:
        self.calls, self.present = log, present

    def get(self, image: str):
        if image not in self.present:
            raise docker.errors.ImageNotFound(image)
        return type("Image", (), {"attrs": {"Config": {"Env": self.present[image]}}})()

    def pull(self, image: str) -> None:
        self.calls.append(f"pull {image}")
        if image.startswith("unpullable"):
            raise docker.errors.NotFound(image)
        self.present[image] = OURS if "/maas/serving:" in image else ["PATH=/usr/bin"]  # ours has maas_dataplane


class FakeClient:
    """The engine: ``log`` holds every call in order, ``created`` the container's settings."""

    def __init__(self, present: dict[str, list[str]] | None = None, create_raises: Exception | None = None,
                 **container) -> None:
        self.log: list[str] = []
        self.container = FakeContainer(self.log, **container)
        self.created: dict = {}
        self.volume_args: dict = {}
        self.create_raises = create_raises
        self.images = FakeImages(self.log, present if present is not None else {"ours:1": OURS})
        self.containers = self
        self.volumes = type("Volumes", (), {"create": self._create_volume})()

    def _create_volume(self, name: str, **kwargs) -> FakeVolume:
        self.log.append(f"create volume {name}")
        self.volume_args = {"name": name, **kwargs}
        return FakeVolume(self.log, name)

    def create(self, image: str, **kwargs):
        self.log.append("create container")
        if self.create_raises is not None:
            raise self.create_raises
        self.created = {"image": image, **kwargs}
        return self.container

    def login(self, username: str, password: str, registry: str, reauth: bool) -> None:
        self.log.append(f"login {username}@{registry}")

    def members(self) -> dict[str, tarfile.TarInfo]:
        ((path, data),) = self.container.archives
        assert path == "/models"
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {m.name: m for m in tar.getmembers()}

    def read(self, name: str) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(self.container.archives[0][1])) as tar:
            return tar.extractfile(name).read()


@pytest.fixture(autouse=True)
def _no_override(monkeypatch) -> None:
    monkeypatch.delenv("MAAS_LOAD_CHECK_IMAGE", raising=False)


@pytest.fixture
def versions(tmp_path: Path) -> dict[int, Path]:
    """Two exported versions: files, a sub-directory, an executable and a link inside."""
    one, two = tmp_path / "export" / "1", tmp_path / "export" / "2"
    (one / "variables").mkdir(parents=True)
    (one / "saved_model.pb").write_bytes(b"graph one")
    (one / "variables" / "variables.index").write_bytes(b"index")
    (one / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    os.symlink("variables/variables.index", one / "index")
    (two / "assets").mkdir(parents=True)
    (two / "saved_model.pb").write_bytes(b"graph two")
    (two / "assets" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (two / "assets" / "run.sh").chmod(0o700)
    (two / "assets" / "private.txt").write_bytes(b"vocab")
    (two / "assets" / "private.txt").chmod(0o600)  # the operator's only: copied readable anyway
    return {2: two, 1: one}


def test_the_container_is_locked_down(versions: dict[int, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "sekrit-marker")
    client = FakeClient()
    result = LoadCheckSandbox(image="ours:1", client=client)("m", versions, 42)
    c = client.created
    assert c["image"] == "ours:1"
    assert c["entrypoint"] == [PYTHON]  # by absolute path: the image keeps no python3 on PATH
    assert c["command"] == ["-m", "maas_dataplane.load_check", "m", "1:/models/1", "2:/models/2"]
    assert c["network_mode"] == "none"
    assert c["read_only"] is True
    assert c["user"] == "65534:65534"
    assert c["cap_drop"] == ["ALL"] and c["security_opt"] == ["no-new-privileges"]
    assert c["mem_limit"] == c["memswap_limit"] and c["nano_cpus"] > 0 and c["pids_limit"] > 0
    assert c["ipc_mode"] == "private"
    assert c["tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=64m"}
    assert set(c["environment"]) <= {"TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "PYTHONDONTWRITEBYTECODE"}
    assert "sekrit-marker" not in repr(c)
    assert result.stdout == "{}\n"


def test_no_host_path_is_mounted_the_versions_go_into_a_volume_of_its_own(versions: dict[int, Path],
                                                                         tmp_path: Path) -> None:
    client = FakeClient()
    LoadCheckSandbox(image="ours:1", client=client)("m", versions, 42)
    c = client.created
    assert "volumes" not in c and "binds" not in c  # no bind mount: a remote engine has no such paths
    assert str(tmp_path) not in repr(c)
    volume = client.volume_args
    assert volume["name"].startswith("maas-load-check-") and volume["labels"] == {"io.maas-iac.role": "load-check"}
    assert c["labels"] == {"io.maas-iac.role": "load-check"}
    (mount,) = c["mounts"]
    assert mount == {"Target": "/models", "Source": volume["name"], "Type": "volume", "ReadOnly": False,
                     "VolumeOptions": {"NoCopy": True}}
    assert client.log == [f"create volume {volume['name']}", "create container", "put_archive /models", "start",
                          "wait 42", "remove container force=True v=True", f"remove volume {volume['name']}"]


def test_the_archive_holds_exactly_the_version_files_owned_by_root(versions: dict[int, Path]) -> None:
    client = FakeClient()
    LoadCheckSandbox(image="ours:1", client=client)("m", versions)
    members = client.members()
    assert sorted(members) == ["1", "1/index", "1/saved_model.pb", "1/variables",
                               "1/variables/variables.data-00000-of-00001", "1/variables/variables.index",
                               "2", "2/assets", "2/assets/private.txt", "2/assets/run.sh", "2/saved_model.pb"]
    for name, m in members.items():
        assert not name.startswith("/") and ".." not in name.split("/") and "\\" not in name
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root")
        assert m.isdir() or m.isfile() or m.issym(), name
    assert {n for n, m in members.items() if m.isdir()} == {"1", "1/variables", "2", "2/assets"}
    assert all(members[n].mode == 0o755 for n in ("1", "1/variables", "2", "2/assets", "2/assets/run.sh"))
    assert members["2/assets/private.txt"].mode == members["1/saved_model.pb"].mode == 0o644
    assert members["1/index"].issym() and members["1/index"].linkname == "variables/variables.index"
    assert client.read("1/variables/variables.data-00000-of-00001") == b"weights"
    assert client.read("2/saved_model.pb") == b"graph two"


@pytest.mark.parametrize("target", ["/etc/passwd", "../../host-secret", "variables/../../x"])
def test_a_link_that_may_leave_its_directory_is_refused_before_the_engine_is_asked(tmp_path: Path,
                                                                                   target: str) -> None:
    (tmp_path / "1").mkdir()
    os.symlink(target, tmp_path / "1" / "escape")
    client = FakeClient()
    with pytest.raises(InfrastructureError, match=r"1/escape is a link"):
        LoadCheckSandbox(image="ours:1", client=client)("m", {1: tmp_path / "1"})
    assert client.log == []


def test_what_is_neither_file_directory_nor_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    os.mkfifo(tmp_path / "1" / "pipe")
    client = FakeClient()
    with pytest.raises(InfrastructureError, match=r"1/pipe is not a regular file, directory or link"):
        LoadCheckSandbox(image="ours:1", client=client)("m", {1: tmp_path / "1"})
    assert client.log == []


@pytest.mark.parametrize("inside", ["/models", "/models/", "/etc/1", "models/1", "/models/../etc", "/models/./1",
                                    "//models/1", "/models/1\0x"])
def test_an_input_outside_the_models_directory_is_refused(tmp_path: Path, inside: str) -> None:
    with pytest.raises(ValueError, match="not a plain path"), input_archive({inside: tmp_path}):
        pass


def test_nested_inputs_get_their_parent_directories_and_overlapping_ones_are_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with input_archive({"/models/a/b": tmp_path}) as archive, tarfile.open(fileobj=archive) as tar:
        assert [(m.name, m.type, m.uid) for m in tar.getmembers()] == [
            ("a", tarfile.DIRTYPE, 0), ("a/b", tarfile.DIRTYPE, 0), ("a/b/f", tarfile.REGTYPE, 0)]
    with pytest.raises(ValueError, match="inside"), input_archive({"/models/a": tmp_path, "/models/a/b": tmp_path}):
        pass


def test_a_missing_version_directory_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    client = FakeClient()
    with pytest.raises(InfrastructureError, match="not a readable directory"):
        LoadCheckSandbox(image="ours:1", client=client)("m", {1: tmp_path / "absent"})
    assert client.log == []


def test_past_the_limit_the_container_is_killed_and_it_and_its_volume_removed() -> None:
    client = FakeClient(wait_raises=True)
    with pytest.raises(SandboxTimeout):
        run_sandboxed(client, "ours:1", ["python3", "-c", "pass"], limits=SandboxLimits(timeout_s=3))
    assert client.log[1:] == ["create container", "put_archive /models", "start", "wait 3", "kill",
                              "remove container force=True v=True", f"remove volume {client.volume_args['name']}"]


def test_a_failed_copy_removes_the_container_and_the_volume(versions: dict[int, Path]) -> None:
    client = FakeClient(put_raises=True)
    with pytest.raises(InfrastructureError, match="no space left"):
        LoadCheckSandbox(image="ours:1", client=client)("m", versions)
    assert "start" not in client.log
    assert client.log[-2:] == ["remove container force=True v=True", f"remove volume {client.volume_args['name']}"]


def test_a_missing_image_removes_the_volume(versions: dict[int, Path]) -> None:
    client = FakeClient(create_raises=docker.errors.ImageNotFound("nope"))
    with pytest.raises(InfrastructureError, match="not on the Docker engine"):
        run_sandboxed(client, "nope:1", ["python3"], inputs={"/models/1": versions[1]})
    assert client.log[-1] == f"remove volume {client.volume_args['name']}"


def test_an_image_that_is_not_ours_is_replaced_by_the_fallback() -> None:
    client = FakeClient(present={"tensorflow/serving:2.19.0": ["PATH=/usr/bin"]})
    assert LoadCheckSandbox(image="tensorflow/serving:2.19.0", client=client).chosen_image() == DEFAULT_LOAD_CHECK_IMAGE
    assert LoadCheckSandbox(image="missing:1", client=client).chosen_image() == DEFAULT_LOAD_CHECK_IMAGE
    assert client.log == []  # without a pull hook, nothing is pulled


def test_the_fallback_is_pulled_from_the_stacks_registry_with_its_login(monkeypatch) -> None:
    """A staging-like stack: a remote engine, tensorflow/serving as its base image. The check
    runs the project's serving image from the stack's registry, pulled there logged in."""
    from maas_iac import program
    from maas_iac.clients import Connections
    from maas_iac.spec import load_stack_config

    stack = load_stack_config({
        "registry": "registry.staging.example.com", "dockerHost": "ssh://deploy@docker-1.staging.example.com",
        "registryAuth": {"username": "maas", "password": "s3cret"}, "servingBaseImage": "tensorflow/serving:2.19.0",
        "kafka": {"bootstrapServers": "kafka-1.staging.example.com:9093"}}, stack="staging")
    client = FakeClient(present={})
    opened: list[str] = []
    monkeypatch.setattr(program, "open_docker", lambda endpoint: opened.append(endpoint.host) or client)
    sandbox = program.load_check_sandbox(stack, Connections.from_stack(stack))
    assert opened == []  # the engine is opened only when a check runs

    image = sandbox.chosen_image()
    assert image == load_check_image("registry.staging.example.com") == \
        "registry.staging.example.com/maas/serving:2.21.0"
    assert opened == ["ssh://deploy@docker-1.staging.example.com"]
    assert client.log == ["pull tensorflow/serving:2.19.0",  # not the stack's registry's: no login
                          "login maas@registry.staging.example.com", f"pull {image}"]


def test_the_stacks_own_serving_image_is_pulled_and_used() -> None:
    pulls: list[str] = []
    client = FakeClient(present={})
    sandbox = LoadCheckSandbox(image="reg:5443/maas/serving:2.21.0", client=client, fallback="reg:5443/other:1",
                               pull=lambda c, image: pulls.append(image) or c.images.pull(image))
    assert sandbox.chosen_image() == "reg:5443/maas/serving:2.21.0"
    assert pulls == ["reg:5443/maas/serving:2.21.0"]


def test_a_fallback_that_cannot_be_pulled_says_so() -> None:
    client = FakeClient(present={"tensorflow/serving:2.19.0": ["PATH=/usr/bin"]})
    sandbox = LoadCheckSandbox(image="tensorflow/serving:2.19.0", client=client, fallback="unpullable/maas/serving:2.21.0",
                               pull=lambda c, image: c.images.pull(image))
    with pytest.raises(InfrastructureError, match=r"unpullable/maas/serving:2.21.0 .* cannot be pulled.*push it"):
        sandbox.chosen_image()


def test_the_override_wins(monkeypatch) -> None:
    monkeypatch.setenv("MAAS_LOAD_CHECK_IMAGE", "local-build:1")
    assert LoadCheckSandbox(image="ours:1", client=FakeClient()).chosen_image() == "local-build:1"


def test_an_old_image_without_the_data_plane_is_an_infrastructure_error(tmp_path: Path) -> None:
    client = FakeClient(stdout=b"", stderr=b"No module named 'maas_dataplane'")
    client.container.wait = lambda timeout: {"StatusCode": 1}  # type: ignore[method-assign]
    with pytest.raises(InfrastructureError, match="rebuild it"):
        LoadCheckSandbox(image="ours:1", client=client)("m", {1: tmp_path})
