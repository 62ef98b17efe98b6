"""Inference through Kafka (the bridge) against the direct gRPC loop, on the same model server.

    python benchmarks/kafka_inference.py [--requests 20000] [--seconds 5] [--rate 1000] [--bridges 1]

Exports the half-plus-two example, starts one ``python -m maas_dataplane.model_server`` and
``--bridges`` ``python -m maas_dataplane.bridge`` subprocesses on fresh topics of the local
broker (``MAAS_KAFKA_BOOTSTRAP``, default 127.0.0.1:9092; requests topic with 3 partitions),
then measures in one run:

* direct: gRPC ``Predict`` of one row at concurrency 8 for ``--seconds`` (requests/s);
* Kafka throughput: ``--requests`` one-row requests produced at once, from the first produce
  until the last prediction is readable with ``read_committed`` (requests/s, end to end);
* Kafka latency: requests produced at ``--rate`` per second for ``--seconds``, each timed from
  just before ``produce`` to its prediction being read by a ``read_committed`` consumer
  (p50/p99 ms);

and prints the throughput ratio Kafka/direct (target >= 1.0, thanks to the bridge's batching)
and the latency percentiles (targets p50 <= 50 ms, p99 <= 250 ms). Client, bridge, server and
broker share the machine's cores, so every figure is a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")

from serving_latency import Server, grpc_client, pct, throughput  # noqa: E402


class Answers(threading.Thread):
    """read_committed reader of the predictions topic, noting when each key arrived."""

    def __init__(self, topic: str) -> None:
        from confluent_kafka import Consumer

        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"bench-{uuid.uuid4().hex}",
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 5})
        self.consumer.subscribe([topic])
        self.arrived: dict[bytes, float] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # consume(n, timeout) waits for n records: wait for one, then take what is there
            msgs = self.consumer.consume(1, 0.1)
            if msgs:
                msgs += self.consumer.consume(5000, 0)
            if self.consumer.assignment():
                self.ready.set()
            now = time.perf_counter()
            for m in msgs:
                if m.error() is None:
                    self.arrived[m.key()] = now
        self.consumer.close()

    def wait_for(self, keys, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(k in self.arrived for k in keys):
                return max(self.arrived[k] for k in keys)
            time.sleep(0.01)
        missing = sum(1 for k in keys if k not in self.arrived)
        raise SystemExit(f"{missing} of {len(keys)} predictions missing after {timeout:g}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--bridges", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--linger-ms", type=float, default=2.0)
    args = parser.parse_args()

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from maas_iac.examples.half_plus_two import export

    tmp = Path(tempfile.mkdtemp(prefix="maas-bench-kafka-"))
    export(tmp / "hpt", 1)
    server = Server(tmp / "hpt")
    stack = f"bench{uuid.uuid4().hex[:8]}"
    names = {role: f"{stack}.hpt.{role}" for role in ("requests", "predictions", "errors")}
    admin = AdminClient({"bootstrap.servers": KAFKA})
    for f in admin.create_topics([NewTopic(t, 3, 1) for t in names.values()]).values():
        f.result(30)
    bridges = [
        subprocess.Popen([sys.executable, "-m", "maas_dataplane.bridge", "--bootstrap-servers", KAFKA, "--stack", stack,
                          "--model", "hpt", "--grpc-target", f"127.0.0.1:{server.grpc_port}", "--ordinal", str(i),
                          "--max-batch-size", str(args.max_batch_size), "--linger-ms", str(args.linger_ms)],
                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp / f"bridge-{i}.log", "wb"))
        for i in range(args.bridges)
    ]
    answers = Answers(names["predictions"])
    answers.start()
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 0, "enable.idempotence": True})
    try:
        # warm up: the bridges are assigned, connected and have the model's signature
        warm = [f"warm-{i}".encode() for i in range(200)]
        for k in warm:
            producer.produce(names["requests"], key=k, value=b'{"instances": [[1.0]]}')
        producer.flush(30)
        answers.wait_for(warm, 180)

        rps_grpc = throughput(grpc_client, server.grpc_port, args.seconds, concurrency=8)

        keys = [f"t-{i}".encode() for i in range(args.requests)]
        t0 = time.perf_counter()
        for i, k in enumerate(keys):
            while True:
                try:
                    producer.produce(names["requests"], key=k, value=b'{"instances": [[%d.0]]}' % (i % 1000))
                    break
                except BufferError:
                    producer.poll(0.01)
            if i % 1000 == 0:
                producer.poll(0)
        producer.flush(60)
        last = answers.wait_for(keys, 300)
        rps_kafka = len(keys) / (last - t0)

        n = int(args.rate * args.seconds)
        sent: dict[bytes, float] = {}
        start = time.perf_counter()
        for i in range(n):
            due = start + i / args.rate
            while (ahead := due - time.perf_counter()) > 0:
                producer.poll(min(ahead, 0.005))
            k = f"l-{i}".encode()
            sent[k] = time.perf_counter()
            producer.produce(names["requests"], key=k, value=b'{"instances": [[1.0]]}')
            producer.poll(0)
        producer.flush(60)
        answers.wait_for(list(sent), 120)
        latencies = [(answers.arrived[k] - t) * 1000 for k, t in sent.items()]
    finally:
        answers.stop.set()
        for b in bridges:
            b.terminate()
        for b in bridges:
            b.wait(timeout=30)
        server.stop()
        for f in admin.delete_topics(list(names.values())).values():
            try:
                f.result(30)
            except Exception:  # noqa: BLE001 - cleanup
                pass

    p50, p99 = pct(latencies, 0.50), pct(latencies, 0.99)
    print(f"direct gRPC Predict, one row, concurrency 8: {rps_grpc:.0f} requests/s")
    print(f"through Kafka ({args.bridges} bridge(s), maxBatchSize {args.max_batch_size}, linger {args.linger_ms:g} ms), "
          f"{args.requests} requests produced at once: {rps_kafka:.0f} requests/s end to end")
    print(f"ratio Kafka/direct: {rps_kafka / rps_grpc:.2f} (target >= 1.0)")
    print(f"produced -> prediction readable (read_committed) at {args.rate:g} requests/s for {args.seconds:g}s: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (targets p50 <= 50, p99 <= 250)")
    print(json.dumps({"grpc_rps": round(rps_grpc), "kafka_rps": round(rps_kafka), "ratio": round(rps_kafka / rps_grpc, 2),
                      "p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
