"""Shared fixtures: the example model exported once, and model servers as real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict[int, Path]:
    """half_plus_two exported once: version 1 is 0.5x+2, version 2 is 0.5x+3."""
    from maas_iac.examples.half_plus_two import export

    base = tmp_path_factory.mktemp("exported")
    return {1: export(base, 1), 2: export(base, 2, intercept=3.0)}


def copy_version(src: Path, base: Path, version: int) -> Path:
    """Place a version dir atomically (copy beside it, then rename)."""
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{version}"
    shutil.copytree(src, tmp)
    os.rename(tmp, base / str(version))
    return base / str(version)


def http(method: str, url: str, body=None, timeout: float = 10.0) -> tuple[int, dict | None, bytes]:
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            code = resp.status
    except urllib.error.HTTPError as err:
        raw = err.read()
        code = err.code
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return code, parsed, raw


class ServerProcess:
    def __init__(self, args: list[str], log_path: Path) -> None:
        self.grpc_port = free_port()
        self.rest_port = free_port()
        self.log_path = log_path
        cmd = [sys.executable, "-m", "maas_dataplane.model_server", f"--port={self.grpc_port}",
               f"--rest_api_port={self.rest_port}", *args]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_available(self, model: str, version: int | None = None, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                code, doc, _ = http("GET", f"{self.rest}/v1/models/{model}", timeout=2)
                if code == 200:
                    states = {s["version"]: s["state"] for s in doc["model_version_status"]}
                    if (version is None and "AVAILABLE" in states.values()) or states.get(str(version)) == "AVAILABLE":
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{model} not AVAILABLE after {timeout}s:\n{self.log()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_server(tmp_path):
    servers: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(list(args), tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()
