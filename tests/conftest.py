"""Shared fixtures: real Git repositories shaped like model repositories, and clients of the
real local services (each fails, never skips, with the command that starts what is missing)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# The tests' scratch stacks are not the checkout's `local` stack, so they bring their own
# passphrase (maas_iac.stack_secrets): there is no default for them, and the local one is refused.
os.environ["PULUMI_CONFIG_PASSPHRASE"] = "maas-test-scratch-stacks"
os.environ.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)


class ModelRepo:
    """A Git working repository with SavedModel-shaped version directories."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "ml@example.com")
        self.git("config", "user.name", "ML Engineer")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def write_version(self, version: int, payload: bytes, base: str = "models/m") -> None:
        d = self.path / base / str(version)
        (d / "variables").mkdir(parents=True, exist_ok=True)
        (d / "saved_model.pb").write_bytes(b"pb:" + payload)
        (d / "variables" / "variables.index").write_bytes(b"idx:" + payload)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def model_repo(tmp_path: Path) -> ModelRepo:
    repo = ModelRepo(tmp_path / "model-repo")
    repo.write_version(1, b"one")
    repo.commit("first model")
    repo.git("tag", "v1")
    return repo


KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run scripts/services start", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_admin():
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": KAFKA, "socket.timeout.ms": 5000})
    try:
        admin.list_topics(timeout=10)
    except KafkaException as exc:
        pytest.fail(f"Kafka on {KAFKA} does not answer ({exc}); run scripts/services start", pytrace=False)
    return admin


@pytest.fixture(scope="session")
def registry() -> str:
    import urllib.request

    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5).close()
    except OSError as exc:
        pytest.fail(f"no registry answers on {REGISTRY} ({exc}); run scripts/services start", pytrace=False)
    return REGISTRY


@pytest.fixture(scope="session")
def k8s_cluster():
    """The single-node Kubernetes cluster, started for the session when it is down (and then
    stopped at its end, with nothing left behind): see tests/k8s_cluster.py."""
    from k8s_cluster import cluster_session

    with cluster_session():
        yield
