"""A private single-node KRaft broker on free ports, from the jars scripts/setup_services.sh
installed ($MAAS_CACHE/kafka-*/libs), for a test that must restart a broker: the shared one
on 127.0.0.1:9092 is never touched."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_home() -> Path:
    cache = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
    homes = sorted(p for p in cache.glob("kafka-[0-9]*") if (p / "libs").is_dir())
    if not homes:
        raise AssertionError(f"no Kafka jars under {cache}/kafka-*/libs; run scripts/setup_services.sh")
    return homes[-1]


class PrivateBroker:
    def __init__(self, workdir: Path) -> None:
        self.home = kafka_home()
        self.port, self.controller = _free_port(), _free_port()
        self.data = workdir / "kafka-data"
        self.conf = workdir / "kafka.properties"
        self.log_path = workdir / "kafka.log"
        self.proc: subprocess.Popen | None = None
        self.conf.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
            "inter.broker.listener.name=PLAINTEXT", "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.data}", "num.partitions=1", "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3", "transaction.state.log.num.partitions=3",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=false", "",
        ]))
        self._java = ["java", "-cp", f"{self.home}/libs/*", "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC",
                      "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.home}/config/log4j2.xml"]
        cluster = subprocess.run([*self._java, "kafka.tools.StorageTool", "random-uuid"], capture_output=True,
                                 text=True, check=True, timeout=120).stdout.strip().splitlines()[-1]
        subprocess.run([*self._java, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster, "-c",
                        str(self.conf)], capture_output=True, check=True, timeout=120)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "PrivateBroker":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*self._java, "kafka.Kafka", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        from confluent_kafka.admin import AdminClient

        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"private broker exited:\n{self.log_path.read_text()[-3000:]}"
            try:
                AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000,
                             "log_level": 0}).list_topics(timeout=2)  # quiet while it is not up
                return self
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        raise AssertionError("private broker did not come up")

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
