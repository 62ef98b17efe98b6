"""The end-to-end harness: the project's real program on the real engine and services.

One scratch project (own ``models/``, stack file and file backend) with the stack ``e2e``: its
own port offset, network and topics, all named after the stack. The stack is deployed once per
module and shared by the scenarios, in order; it is destroyed at the end even when a scenario
fails, and whatever a crashed earlier run left behind (containers and networks labelled with the
stack, its topics) is removed before it starts.

Helpers: a model repository with real SavedModels, a steady request loop through the router,
the stack's events, registry tags, and the containers Docker and the state know about.
"""

from __future__ import annotations

import abc
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from polling import wait_until

from maas_iac.automation import engine_env, scratch_project, select_stack
from maas_iac.clients.docker import list_containers

STACK = "e2e"
PORT_OFFSET = 2000
KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")

STACK_CONFIG = {
    "maas:registry": REGISTRY,
    "maas:dockerHost": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
    "maas:kafka": {"bootstrapServers": KAFKA},
    "maas:bindAddress": "127.0.0.1",
    "maas:portOffset": PORT_OFFSET,
    "maas:servingBaseImage": f"{REGISTRY}/maas/serving:2.21.0",
    "maas:routerImage": f"{REGISTRY}/maas/haproxy:2.6",
    "maas:protect": False,
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: {name}
source:
  repository: {repo}
  ref: {ref}
  path: models/half_plus_two
  versions: {{policy: latest, count: 1}}
serving:
  replicas: {replicas}
  ports: {{rest: {rest}, grpc: {grpc}}}
  resources: {{cpus: 1.0, memory: 1Gi}}
  # A probe that passes ends the start period at once: a long one only helps a busy machine.
  health: {{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 240, retries: 3}}
  drainSeconds: 3
  env: {{TF_CPP_MIN_LOG_LEVEL: "2"}}
topics:
  requests: {{partitions: {partitions}, replicationFactor: {replication}, retentionMs: 3600000, cleanupPolicy: delete}}
  predictions: {{partitions: 3, replicationFactor: 1, retentionMs: 7200000, cleanupPolicy: delete}}
bridge: {{consumers: {consumers}}}
rollout:
  healthTimeoutSeconds: 300
"""

# Host ports before the stack's offset.
PORTS = {"hpt": (8501, 8500), "echo": (8511, 8510)}


# ---------------------------------------------------------------------------- model repository


class ExampleModels:
    """A Git repository of half-plus-N SavedModels: v1 (y = x/2 + 2), v2 (y = x/2 + 3), and v3
    (a corrupt version 3). Every version carries this run's id in ``assets.extra/``, so the
    first ``up`` of every run really builds and pushes its images."""

    def __init__(self, path: Path) -> None:
        from maas_iac.examples.half_plus_two import export

        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        run_id = uuid.uuid4().hex
        base = path / "models" / "half_plus_two"
        for version, intercept in ((1, 2.0), (2, 3.0)):
            export(base, version, intercept=intercept)
            (base / str(version) / "assets.extra").mkdir(exist_ok=True)
            (base / str(version) / "assets.extra" / "e2e-run").write_text(run_id)
            self.commit(f"version {version}")
            self.git("tag", f"v{version}")
        shutil.copytree(base / "2", base / "3")
        (base / "3" / "saved_model.pb").write_bytes(b"\x08\x01 truncated upload")
        self.commit("version 3 (corrupt)")
        self.git("tag", "v3")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
               "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid"}
        return subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def sha(self, ref: str) -> str:
        return self.git("rev-parse", f"{ref}^{{commit}}")


# ---------------------------------------------------------------------------- the deployed stack


@dataclass
class E2EStack:
    """The ``e2e`` stack of the scratch project, and what the scenarios look at."""

    project: Path
    repo: ExampleModels
    stack: Any
    docker: Any
    admin: Any
    env: dict[str, str]
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = STACK
    """The stack's name: its containers' ``maas.stack`` label and its topics' prefix."""
    address: str = "127.0.0.1"
    """Where the routers publish (the stack's ``maas:bindAddress``)."""
    port_offset: int = PORT_OFFSET
    kafka_config: dict[str, Any] = field(default_factory=lambda: {"bootstrap.servers": KAFKA})
    """librdkafka settings of a client of the stack's cluster."""

    @property
    def bootstrap(self) -> str:
        """The stack's cluster, ``host:port``."""
        return str(self.kafka_config["bootstrap.servers"])

    # -- specs

    def set_model(self, name: str, **changes: Any) -> None:
        spec = self.specs.setdefault(name, {"ref": "v1", "replicas": 1, "partitions": 3, "consumers": 1,
                                                    "replication": 1})
        spec.update(changes)
        rest, grpc = PORTS[name]
        (self.project / "models" / f"{name}.yaml").write_text(SPEC.format(
            name=name, repo=self.repo.path, rest=rest, grpc=grpc, **spec))

    # -- engine

    def up(self, **kwargs: Any):
        return self.stack.up(on_output=lambda _line: None, **kwargs)

    def preview(self, **kwargs: Any):
        return self.stack.preview(on_output=lambda _line: None, **kwargs)

    def pulumi_cli(self, *args: str) -> subprocess.Popen:
        """The pulumi CLI on this stack, as a process of its own (to interrupt it). Its output goes
        to ``<project>/cli.log``, which :meth:`cli_log` reads back for failure messages."""
        with open(self.project / "cli.log", "wb") as log:
            return subprocess.Popen(["pulumi", *args, "--stack", self.name, "--non-interactive"], cwd=self.project,
                                    env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def cli_log(self, lines: int = 40) -> str:
        """The last lines the process of :meth:`pulumi_cli` printed."""
        path = self.project / "cli.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def state_resources(self) -> list[dict[str, Any]]:
        return self.stack.export_stack().deployment.get("resources", [])

    def state_container_ids(self) -> set[str]:
        return {r["outputs"]["container_id"] for r in self.state_resources()
                if r["type"].endswith("docker:Container") and not r.get("delete")}

    # -- the world

    def containers(self, **labels: str) -> list[Any]:
        """The stack's containers with ``labels``, inspected; one removed meanwhile (a rollout
        deletes replicas while the tests look) is left out instead of failing the look."""
        return list_containers(self.docker, [f"maas.stack={self.name}"] + [f"{k}={v}" for k, v in labels.items()])

    def container_ids(self, **labels: str) -> set[str]:
        return {c.id for c in self.containers(**labels)}

    def replicas(self, model: str) -> list[Any]:
        return self.containers(**{"maas.model": model, "maas.role": "replica"})

    def rest(self, model: str) -> str:
        return f"http://{self.address}:{PORTS[model][0] + self.port_offset}/v1/models/{model}"

    def grpc(self, model: str) -> str:
        return f"{self.address}:{PORTS[model][1] + self.port_offset}"

    def topic(self, name: str) -> tuple[int, dict[str, str]] | None:
        """(partitions, config) of a topic, or None when the broker lacks it."""
        from confluent_kafka.admin import ConfigResource, ResourceType

        metadata = self.admin.list_topics(timeout=10).topics
        if name not in metadata:
            return None
        resource = ConfigResource(ResourceType.TOPIC, name)
        config = self.admin.describe_configs([resource])[resource].result(timeout=30)
        return len(metadata[name].partitions), {k: v.value for k, v in config.items()}

    def stack_topics(self) -> set[str]:
        return {t for t in self.admin.list_topics(timeout=10).topics if t.startswith(f"{self.name}.")}

    def events(self) -> list[dict[str, Any]]:
        return read_topic(f"{self.name}.model-events", self.kafka_config)


def read_topic(topic: str, kafka_config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every record of ``topic`` from the beginning, as {"key", "value"} with JSON values."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**(kafka_config or {"bootstrap.servers": KAFKA}), "group.id": f"e2e-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends, assignment = {}, []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        records, deadline = [], time.monotonic() + 30
        done: dict[int, int] = {}
        while any(done.get(p, -1) + 1 < end for p, end in ends.items()) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            done[msg.partition()] = msg.offset()
            value = json.loads(msg.value()) if msg.value() else None
            records.append({"key": msg.key().decode(), "value": value, "offset": (msg.partition(), msg.offset())})
        return records
    finally:
        consumer.close()


def registry_tags(repository: str) -> dict[str, str]:
    """{tag: manifest digest} of a repository in the registry."""
    import urllib.error
    import urllib.request

    from maas_iac.clients.registry import manifest_digest

    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/{repository}/tags/list", timeout=10) as r:
            tags = json.loads(r.read()).get("tags") or []
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return {}
        raise
    return {t: manifest_digest(REGISTRY, repository, t) for t in sorted(tags)}


def changes(summary: dict[Any, int]) -> dict[str, int]:
    """A change summary without the unchanged resources, keyed by plain strings."""
    return {str(getattr(op, "value", op)): n for op, n in summary.items() if str(getattr(op, "value", op)) != "same"}


# ---------------------------------------------------------------------------- request loop


class _PacedLoop(abc.ABC):
    """Predictions through a router at a steady rate, from a thread, on the loopback.

    Every request opens a new connection; a failure is any error answer or connection error.
    Bounded: it stops by itself after ``max_s`` seconds. Subclasses send one request.
    """

    def __init__(self, rate_per_s: float, max_s: float) -> None:
        self.interval = 1 / rate_per_s
        self.max_s = max_s
        self.ok = 0
        self.failures: list[str] = []
        self.values: list[float] = []
        self.started = self.stopped = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)
        self.stopped = time.monotonic()

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)

    @property
    def rate(self) -> float:
        return self.total / max(self.stopped - self.started, 1e-9)

    def summary(self) -> str:
        return (f"{self.total} requests in {self.stopped - self.started:.1f}s ({self.rate:.1f}/s), "
                f"{len(self.failures)} failed: {self.failures[:5]}")

    @abc.abstractmethod
    def _predict_one(self) -> float:
        """Send one prediction of x=1; return y, or raise on any failure."""

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - self.started < self.max_s:
            try:
                self.values.append(self._predict_one())
                self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failures.append(f"{time.monotonic() - self.started:.1f}s: {type(exc).__name__}: {exc}")
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


class RequestLoop(_PacedLoop):
    """REST ``:predict`` of x=1 through a router at a steady rate (see :class:`_PacedLoop`)."""

    def __init__(self, endpoint: str, rate_per_s: float = 25, max_s: float = 600) -> None:
        super().__init__(rate_per_s, max_s)
        self.endpoint = endpoint
        self._host, port = endpoint.split("/")[2].split(":")
        self._port = int(port)
        self._path = "/" + endpoint.split("/", 3)[3] + ":predict"

    def _predict_one(self) -> float:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=10)
        try:
            conn.request("POST", self._path, body=b'{"instances": [[1.0]]}',
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{resp.status} {data[:120]!r}")
            return json.loads(data)["predictions"][0][0]
        finally:
            conn.close()


class GrpcLoop(_PacedLoop):
    """gRPC Predict of x=1 through a router at a steady rate, a new channel each time."""

    def __init__(self, target: str, model: str, rate_per_s: float = 10, max_s: float = 600) -> None:
        super().__init__(rate_per_s, max_s)
        self.target, self.model = target, model

    def _predict_one(self) -> float:
        from maas_iac.examples.predict import predict_grpc

        return predict_grpc(self.target, self.model, [1.0], timeout_s=10)[0]


# ---------------------------------------------------------------------------- fixtures


def clean_leftovers(docker: Any, admin: Any, stack: str = STACK) -> None:
    """Remove what a crashed earlier run of ``stack`` may have left: containers and networks
    labelled with the stack, and its topics."""
    for c in docker.containers.list(all=True, filters={"label": f"maas.stack={stack}"}):
        c.remove(force=True)
    for n in docker.networks.list(filters={"label": f"maas.stack={stack}"}):
        n.remove()
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{stack}.")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result(timeout=60)
        wait_until(lambda: not set(topics) & set(admin.list_topics(timeout=10).topics), 30,
                   f"the broker to stop listing {', '.join(sorted(topics))}")


@contextmanager
def owned(e2e: E2EStack) -> Iterator[E2EStack]:
    """``e2e`` for the block; afterwards its stack is destroyed, whatever is left with its labels
    and topics removed, and the stack forgotten."""
    try:
        yield e2e
    finally:
        try:
            e2e.stack.destroy(on_output=lambda _line: None)
        finally:
            clean_leftovers(e2e.docker, e2e.admin, e2e.name)
            e2e.stack.workspace.remove_stack(e2e.name)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, docker_client, kafka_admin, registry) -> Iterator[E2EStack]:
    root = tmp_path_factory.mktemp("e2e")
    repo = ExampleModels(root / "example-models")
    project = scratch_project(root / "project", STACK, STACK_CONFIG, {})
    (project / ".pulumi-state").mkdir()
    extra = {"PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state", "MAAS_CACHE": str(root / "cache")}
    clean_leftovers(docker_client, kafka_admin)
    stack = select_stack(STACK, project, env=extra)
    e2e = E2EStack(project=project, repo=repo, stack=stack, docker=docker_client, admin=kafka_admin,
                   env=engine_env(project, extra))
    with owned(e2e):
        yield e2e
