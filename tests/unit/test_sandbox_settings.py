"""What the sandboxed load check asks Docker for, with a recording client (the real engine:
tests/integration/test_load_sandbox.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from maas_dataplane.contract import PYTHON
from maas_iac.errors import InfrastructureError
from maas_iac.load_sandbox import LoadCheckSandbox, SandboxLimits, SandboxTimeout, run_sandboxed


class FakeContainer:
    def __init__(self, wait_raises: bool = False, stdout: bytes = b"{}\n", stderr: bytes = b"") -> None:
        self.calls: list[str] = []
        self.wait_raises = wait_raises
        self.out, self.err = stdout, stderr

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

    def remove(self, force: bool) -> None:
        self.calls.append(f"remove force={force}")


class FakeImages:
    def __init__(self, env: list[str]) -> None:
        self.env = env

    def get(self, image: str):
        import docker

        if image.startswith("missing"):
            raise docker.errors.ImageNotFound(image)
        return type("Image", (), {"attrs": {"Config": {"Env": self.env}}})()


class FakeClient:
    def __init__(self, container: FakeContainer, env: list[str] | None = None) -> None:
        self.container = container
        self.created: dict = {}
        self.images = FakeImages(env if env is not None else ["PYTHONPATH=/opt/maas/app:/opt/maas/site"])
        self.containers = self

    def create(self, image: str, **kwargs):
        self.created = {"image": image, **kwargs}
        return self.container


@pytest.fixture(autouse=True)
def _no_override(monkeypatch) -> None:
    monkeypatch.delenv("MAAS_LOAD_CHECK_IMAGE", raising=False)


def test_the_container_is_locked_down(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "sekrit-marker")
    client = FakeClient(FakeContainer())
    result = LoadCheckSandbox(image="ours:1", client=client)("m", {2: tmp_path / "2", 1: tmp_path / "1"}, 42)
    c = client.created
    assert c["image"] == "ours:1"
    assert c["entrypoint"] == [PYTHON]  # by absolute path: the image keeps no python3 on PATH
    assert c["command"] == ["-m", "maas_dataplane.load_check", "m", "1:/models/1", "2:/models/2"]
    assert c["network_mode"] == "none"
    assert c["read_only"] is True
    assert c["user"] == "65534:65534"
    assert c["cap_drop"] == ["ALL"] and c["security_opt"] == ["no-new-privileges"]
    assert c["mem_limit"] == c["memswap_limit"] and c["nano_cpus"] > 0 and c["pids_limit"] > 0
    assert c["tmpfs"]["/tmp"].startswith("rw,noexec,nosuid,nodev")
    assert c["volumes"] == {str(tmp_path / "1"): {"bind": "/models/1", "mode": "ro"},
                            str(tmp_path / "2"): {"bind": "/models/2", "mode": "ro"}}
    assert set(c["environment"]) <= {"TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "PYTHONDONTWRITEBYTECODE"}
    assert "sekrit-marker" not in repr(c)
    assert client.container.calls == ["start", "wait 42", "remove force=True"]
    assert result.stdout == "{}\n"


def test_past_the_limit_the_container_is_killed_and_removed() -> None:
    container = FakeContainer(wait_raises=True)
    with pytest.raises(SandboxTimeout):
        run_sandboxed(FakeClient(container), "ours:1", ["python3", "-c", "pass"], limits=SandboxLimits(timeout_s=3))
    assert container.calls == ["start", "wait 3", "kill", "remove force=True"]


def test_an_image_that_is_not_ours_is_replaced_by_the_default() -> None:
    client = FakeClient(FakeContainer(), env=["PATH=/usr/bin"])
    sandbox = LoadCheckSandbox(image="tensorflow/serving:2.19.0", client=client)
    from maas_iac.load_sandbox import DEFAULT_LOAD_CHECK_IMAGE

    assert sandbox.chosen_image() == DEFAULT_LOAD_CHECK_IMAGE
    assert LoadCheckSandbox(image="missing:1", client=client).chosen_image() == DEFAULT_LOAD_CHECK_IMAGE


def test_the_override_wins(monkeypatch) -> None:
    monkeypatch.setenv("MAAS_LOAD_CHECK_IMAGE", "local-build:1")
    assert LoadCheckSandbox(image="ours:1", client=FakeClient(FakeContainer())).chosen_image() == "local-build:1"


def test_an_old_image_without_the_data_plane_is_an_infrastructure_error(tmp_path: Path) -> None:
    container = FakeContainer(stdout=b"", stderr=b"No module named 'maas_dataplane'")
    container.wait = lambda timeout: {"StatusCode": 1}  # type: ignore[method-assign]
    with pytest.raises(InfrastructureError, match="rebuild it"):
        LoadCheckSandbox(image="ours:1", client=FakeClient(container))("m", {1: tmp_path})
