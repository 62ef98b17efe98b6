"""Real pieces for the bridge's tests: the example model, a model server subprocess, bridge
subprocesses, unique topics on the local broker, and a read_committed reader."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MODEL = "hpt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected(x: float) -> float:
    return 0.5 * x + 2.0


@pytest.fixture(scope="session")
def model_base(tmp_path_factory) -> Path:
    """half_plus_two version 1 (y = 0.5x + 2) under <base>/hpt/1."""
    from maas_iac.examples.half_plus_two import export

    base = tmp_path_factory.mktemp("bridge-model") / MODEL
    export(base, 1)
    return base


class ModelServer:
    """``python -m maas_dataplane.model_server`` on 127.0.0.1; restartable on the same ports."""

    def __init__(self, base: Path, log_dir: Path) -> None:
        self.base = base
        self.grpc_port = free_port()
        self.rest_port = free_port()
        self.log_dir = log_dir
        self.starts = 0
        self.proc: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, wait: bool = True) -> "ModelServer":
        self.starts += 1
        log = open(self.log_dir / f"model-server-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas_dataplane.model_server", f"--port={self.grpc_port}",
             f"--rest_api_port={self.rest_port}",
             f"--model_name={MODEL}", f"--model_base_path={self.base}", "--drain_seconds=0"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1"))
        log.close()
        if wait:
            self.wait_available()
        return self

    def wait_available(self, timeout: float = 90) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, "model server exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/v1/models/{MODEL}", timeout=2) as r:
                    if b'"AVAILABLE"' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("model server not AVAILABLE")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def model_server(model_base: Path, tmp_path_factory) -> Iterator[ModelServer]:
    server = ModelServer(model_base, tmp_path_factory.mktemp("bridge-server")).start()
    yield server
    server.stop()


@pytest.fixture
def own_model_server(model_base: Path, tmp_path: Path) -> Iterator[ModelServer]:
    """A server this test may stop and restart."""
    server = ModelServer(model_base, tmp_path).start()
    yield server
    server.stop()


class Topics:
    def __init__(self, admin, partitions: int = 3) -> None:
        from confluent_kafka.admin import NewTopic

        self.stack = f"bt{uuid.uuid4().hex[:10]}"
        self.requests = f"{self.stack}.{MODEL}.requests"
        self.predictions = f"{self.stack}.{MODEL}.predictions"
        self.errors = f"{self.stack}.{MODEL}.errors"
        self._admin = admin
        futures = admin.create_topics([NewTopic(t, partitions, 1) for t in self.names])
        for f in futures.values():
            f.result(30)

    @property
    def names(self) -> list[str]:
        return [self.requests, self.predictions, self.errors]

    def delete(self) -> None:
        for f in self._admin.delete_topics(self.names).values():
            try:
                f.result(30)
            except Exception:  # noqa: BLE001 - cleanup
                pass


@pytest.fixture
def topics(kafka_admin) -> Iterator[Topics]:
    t = Topics(kafka_admin)
    yield t
    t.delete()


class BridgeProcess:
    def __init__(self, topics: Topics, target: str, log_dir: Path, ordinal: int, extra: list[str],
                 bootstrap: str = KAFKA) -> None:
        self.log_path = log_dir / f"bridge-{ordinal}-{uuid.uuid4().hex[:4]}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas_dataplane.bridge", "--bootstrap-servers", bootstrap, "--stack", topics.stack,
             "--model", MODEL, "--grpc-target", target, "--ordinal", str(ordinal), "--git-sha", "0" * 40,
             "--digest", "sha256:" + "d" * 64, *extra],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1"))
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_assigned(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"bridge exited:\n{self.log()}"
            if "bridge: assigned [" in self.log():
                return
            time.sleep(0.2)
        raise AssertionError(f"bridge got no partitions:\n{self.log()}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator:
    bridges: list[BridgeProcess] = []

    def start(topics: Topics, target: str, ordinal: int = 0, *extra: str, bootstrap: str = KAFKA) -> BridgeProcess:
        b = BridgeProcess(topics, target, tmp_path, ordinal, list(extra), bootstrap)
        bridges.append(b)
        return b

    yield start
    for b in bridges:
        b.stop()


def produce_requests(topic: str, start: int, count: int, *, prefix: str = "r", bootstrap: str = KAFKA,
                     flush_s: float = 30) -> dict[bytes, float]:
    """``count`` requests ``{"instances": [[x]]}`` keyed ``<prefix>-<i>``; returns key -> x."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    sent = {}
    for i in range(start, start + count):
        key = f"{prefix}-{i}".encode()
        x = float(i % 1000) - 500.0
        producer.produce(topic, key=key, value=json.dumps({"instances": [[x]]}).encode(),
                         headers=[("content-type", b"application/json")])
        sent[key] = x
        if i % 2000 == 0:
            producer.poll(0)
    assert producer.flush(flush_s) == 0
    return sent


class Stream(threading.Thread):
    """Produces ``count`` requests at about ``rate`` per second in the background."""

    def __init__(self, topic: str, count: int, rate: float, prefix: str = "s", bootstrap: str | None = None) -> None:
        super().__init__(daemon=True)
        self.topic, self.count, self.rate, self.prefix = topic, count, rate, prefix
        self.bootstrap = bootstrap
        self.sent: dict[bytes, float] = {}
        self.stopping = threading.Event()
        """Set it to end the stream early (``sent`` then holds what was produced)."""

    def run(self) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap or KAFKA, "linger.ms": 5, "enable.idempotence": True})
        start = time.monotonic()
        for i in range(self.count):
            if self.stopping.is_set():
                break
            key = f"{self.prefix}-{i}".encode()
            x = float(i % 1000) - 500.0
            producer.produce(self.topic, key=key, value=json.dumps({"instances": [[x]]}).encode(),
                             headers=[("content-type", b"application/json")])
            self.sent[key] = x
            producer.poll(0)
            if i % 50 == 49 and (ahead := start + (i + 1) / self.rate - time.monotonic()) > 0:
                time.sleep(ahead)
        assert producer.flush(120) == 0


class Reader:
    """A read_committed reader of the predictions and errors topics from their beginning."""

    def __init__(self, *topic_names: str, bootstrap: str = KAFKA) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False})
        self.consumer.subscribe(list(topic_names))
        self.records: dict[str, list] = {t: [] for t in topic_names}

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for m in self.consumer.consume(2000, min(left, 0.5)):
                if m.error() is None:
                    self.records[m.topic()].append(m)

    def count(self) -> int:
        return sum(len(v) for v in self.records.values())

    def until(self, n: int, timeout: float, settle: float = 3.0) -> None:
        """Reads until ``n`` records arrived (or ``timeout``), then ``settle`` s more, so that a
        duplicate would show."""
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            self.poll(0.5)
        self.poll(settle)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader() -> Iterator:
    readers: list[Reader] = []

    def make(*topic_names: str, bootstrap: str = KAFKA) -> Reader:
        r = Reader(*topic_names, bootstrap=bootstrap)
        readers.append(r)
        return r

    yield make
    for r in readers:
        r.close()


def check_exactly_once(records: list, sent: dict[bytes, float]) -> None:
    """Every key once, every value 0.5x + 2, every header there."""
    keys = [m.key() for m in records]
    dupes = len(keys) - len(set(keys))
    missing = set(sent) - set(keys)
    assert dupes == 0 and not missing and len(keys) == len(sent), \
        f"{len(keys)} predictions for {len(sent)} requests: {dupes} duplicates, {len(missing)} missing"
    wrong = []
    for m in records:
        y = json.loads(m.value())["predictions"][0][0]
        if abs(y - expected(sent[m.key()])) > 1e-4:
            wrong.append((m.key(), sent[m.key()], y))
    assert not wrong, f"{len(wrong)} wrong values, e.g. {wrong[:3]}"
    headers = dict(records[0].headers())
    assert headers["model"] == MODEL.encode() and headers["model-version"] == b"1"
    assert headers["git-sha"] == b"0" * 40 and headers["model-digest"].startswith(b"sha256:")
    assert headers["content-type"] == b"application/json"
    assert b":" in headers["request-offset"] and float(headers["latency-ms"]) >= 0
