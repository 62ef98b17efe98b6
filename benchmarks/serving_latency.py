"""Latency and throughput of the model server against the in-process limit.

    python benchmarks/serving_latency.py [--requests 2000] [--seconds 5] [--model-dir DIR]

Exports the half-plus-two example (unless --model-dir has one) and the tf.Example classifier
(``maas_iac/examples/classifier.py``, which has a classification signature), then measures:

* the limit: the same SavedModel signature called in-process, numpy in and numpy out, both
  through TensorFlow's public API (``signature(x=...)``) and the way the server calls it
  (``LoadedVersion.run``, which takes the direct path when it is proven, see
  ``maas_dataplane/model_server/direct_call.py``); the faster of the two is the limit, so the
  server's own call path never counts in its favour;
* REST ``:predict`` (keep-alive HTTP/1.1, one row) and gRPC ``Predict`` against a
  ``python -m maas_dataplane.model_server`` subprocess: p50/p99, added ms over the limit and ratio;
* requests/s at concurrency 8 (REST and gRPC), with batching off and on;
* Classify on the classifier, one serialized tf.Example a request: its own limit, measured as
  above on the classifier's ``serving_default`` (a classify signature) with the serialized
  example as a string tensor, then gRPC ``Classify`` (an ``example_list`` ``Input``) and REST
  ``:classify`` (``{"examples": [...]}``) against a server of its own, as added ms over that
  limit. Decoding the ``Input`` and building the ``ClassificationResponse`` count as added.

Client and server share the machine's cores, so the throughput figures are a floor.
Targets: REST adds <= 2 ms at p50, gRPC <= 1 ms. Issue 13 sets no target for Classify, so
its added p50s are printed without one, on the line before the last. The last line gives
both Predict added p50s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
X = [[1.0]]
CLASSIFY_X = 1.0  # the classifier's feature x, one example a request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn, n: int, warmup: int = 100) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def in_process(path: Path, name: str, feeds: dict, n: int) -> tuple[list[float], list[float], list[float]]:
    """``serving_default`` called in-process on numpy ``feeds``: through TensorFlow's public
    API, the way the server calls it, and the faster of the two (the limit)."""
    import tensorflow as tf
    from maas_dataplane.model_server.servable import LoadedVersion

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    public = timed(lambda: {k: v.numpy() for k, v in fn(**{a: tf.constant(t) for a, t in feeds.items()}).items()}, n)
    version = LoadedVersion(name, 1, str(path))
    sig = version.signature("serving_default")
    own = timed(lambda: version.run(sig, feeds), n)
    return public, own, min(public, own, key=lambda s: pct(s, 0.5))


class Server:
    def __init__(self, base: Path, *extra: str, name: str = "hpt") -> None:
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas_dataplane.model_server", f"--port={self.grpc_port}",
             f"--rest_api_port={self.rest_port}", f"--model_name={name}", f"--model_base_path={base}", *extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=2)
                conn.request("GET", f"/v1/models/{name}")
                if b"AVAILABLE" in conn.getresponse().read():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("model server did not become available")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def rest_client(port: int, path: str = "/v1/models/hpt:predict", doc: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"instances": X} if doc is None else doc).encode()
    headers = {"Content-Type": "application/json"}

    def call():
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data
        return json.loads(data)

    return call


def predict_request():
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "hpt"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.asarray(X, np.float32)))
    return req


def classify_request(serialized: bytes):
    from tensorflow_serving.apis import classification_pb2

    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "cls"
    req.input.example_list.examples.add().ParseFromString(serialized)
    return req


def grpc_client(port: int, method: str = "Predict", req=None):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    rpc = getattr(prediction_service_pb2_grpc.PredictionServiceStub(channel), method)
    req = predict_request() if req is None else req

    def call():
        return rpc(req, timeout=10)

    return call


def throughput(make_client, port: int, seconds: float, concurrency: int = 8) -> float:
    counts = [0] * concurrency
    stop = threading.Event()

    def worker(i):
        call = make_client(port)
        call()
        while not stop.is_set():
            call()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    start = sum(counts)
    t0 = time.perf_counter()
    time.sleep(seconds)
    done = sum(counts) - start
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(timeout=10)
    return done / elapsed


def rows(in_process_rows, limit_row, served_rows) -> None:
    """One section of the table: in-process rows, their limit, then the served rows as added
    ms over that limit and ratio."""
    for name, s in in_process_rows:
        print(f"{name:<22}{pct(s, 0.5):>9.3f}{pct(s, 0.99):>9.3f}")
    name, limit = limit_row
    lp50 = pct(limit, 0.5)
    print(f"{name:<22}{lp50:>9.3f}{pct(limit, 0.99):>9.3f}{'':>11}{'1.00':>11}")
    for name, s in served_rows:
        p50 = pct(s, 0.5)
        print(f"{name:<22}{p50:>9.3f}{pct(s, 0.99):>9.3f}{p50 - lp50:>11.3f}{p50 / lp50:>11.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--model-dir", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="maas-bench-"))
    base = args.model_dir or tmp / "hpt"
    if not (base / "1").exists():
        from maas_iac.examples.half_plus_two import export

        export(base, 1)

    public, own, limit = in_process(base / "1", "hpt", {"x": np.asarray(X, np.float32)}, args.requests)

    server = Server(base)
    try:
        rest = timed(rest_client(server.rest_port), args.requests)
        grpc_lat = timed(grpc_client(server.grpc_port), args.requests)
        rps_rest = throughput(rest_client, server.rest_port, args.seconds)
        rps_grpc = throughput(grpc_client, server.grpc_port, args.seconds)
    finally:
        server.stop()
    params = tmp / "batching.config"
    params.write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 500 }\n"
                      "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 1000 }\n")
    server = Server(base, "--enable_batching", f"--batching_parameters_file={params}")
    try:
        rps_rest_b = throughput(rest_client, server.rest_port, args.seconds)
        rps_grpc_b = throughput(grpc_client, server.grpc_port, args.seconds)
    finally:
        server.stop()

    from maas_iac.examples import classifier

    cls_base = tmp / "cls"
    classifier.save(cls_base / "1")
    serialized = classifier.example(CLASSIFY_X)
    examples = np.array([serialized], dtype=object)
    cls_public, cls_own, cls_limit = in_process(cls_base / "1", "cls", {"inputs": examples}, args.requests)
    server = Server(cls_base, name="cls")
    try:
        rest_cls = timed(rest_client(server.rest_port, "/v1/models/cls:classify",
                                     {"examples": [{classifier.FEATURE: CLASSIFY_X}]}), args.requests)
        grpc_cls = timed(grpc_client(server.grpc_port, "Classify", classify_request(serialized)), args.requests)
    finally:
        server.stop()

    print(f"{'path':<22}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'ratio p50':>11}")
    rows([("in-process, public", public), ("in-process, server", own)], ("limit (the faster)", limit),
         [("REST :predict", rest), ("gRPC Predict", grpc_lat)])
    rows([("Classify, public", cls_public), ("Classify, server", cls_own)], ("Classify limit", cls_limit),
         [("REST :classify", rest_cls), ("gRPC Classify", grpc_cls)])
    print(f"requests/s at concurrency 8: REST {rps_rest:.0f} (batching on: {rps_rest_b:.0f}), "
          f"gRPC {rps_grpc:.0f} (batching on: {rps_grpc_b:.0f}); cpus={os.cpu_count()}")
    cp50 = pct(cls_limit, 0.5)
    print(f"Classify added p50: gRPC {pct(grpc_cls, 0.5) - cp50:.3f} ms, REST {pct(rest_cls, 0.5) - cp50:.3f} ms "
          f"(no target: issue 13 sets none for Classify)")
    lp50 = pct(limit, 0.5)
    rest_added, grpc_added = pct(rest, 0.5) - lp50, pct(grpc_lat, 0.5) - lp50
    ok = rest_added <= 2.0 and grpc_added <= 1.0
    print(f"REST added p50 {rest_added:.3f} ms (target <= 2), gRPC added p50 {grpc_added:.3f} ms "
          f"(target <= 1): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
