"""Latency and throughput of the model server against the in-process limit.

    python benchmarks/serving_latency.py [--requests 2000] [--seconds 5] [--model-dir DIR]

Exports the half-plus-two example (unless --model-dir has one), then measures:

* the limit: the same SavedModel signature called in-process, numpy in and numpy out, both
  through TensorFlow's public API (``signature(x=...)``) and the way the server calls it
  (``LoadedVersion.run``, which takes the direct path when it is proven, see
  ``maas_dataplane/model_server/direct_call.py``); the faster of the two is the limit, so the
  server's own call path never counts in its favour;
* REST ``:predict`` (keep-alive HTTP/1.1, one row) and gRPC ``Predict`` against a
  ``python -m maas_dataplane.model_server`` subprocess: p50/p99, added ms over the limit and ratio;
* requests/s at concurrency 8 (REST and gRPC), with batching off and on.

Client and server share the machine's cores, so the throughput figures are a floor.
Targets: REST adds <= 2 ms at p50, gRPC <= 1 ms. The last line gives both added p50s.
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


class Server:
    def __init__(self, base: Path, *extra: str) -> None:
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas_dataplane.model_server", f"--port={self.grpc_port}",
             f"--rest_api_port={self.rest_port}", "--model_name=hpt", f"--model_base_path={base}", *extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=2)
                conn.request("GET", "/v1/models/hpt")
                if b"AVAILABLE" in conn.getresponse().read():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("model server did not become available")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def rest_client(port: int):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"instances": X}).encode()
    headers = {"Content-Type": "application/json"}

    def call():
        conn.request("POST", "/v1/models/hpt:predict", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data
        return json.loads(data)

    return call


def grpc_client(port: int):
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "hpt"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.asarray(X, np.float32)))

    def call():
        return stub.Predict(req, timeout=10)

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--model-dir", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    tmp = Path(tempfile.mkdtemp(prefix="maas-bench-"))
    base = args.model_dir or tmp / "hpt"
    if not (base / "1").exists():
        from maas_iac.examples.half_plus_two import export

        export(base, 1)

    loaded = tf.saved_model.load(str(base / "1"))
    fn = loaded.signatures["serving_default"]
    x = np.asarray(X, np.float32)
    public = timed(lambda: {k: v.numpy() for k, v in fn(x=tf.constant(x)).items()}, args.requests)
    from maas_dataplane.model_server.servable import LoadedVersion

    version = LoadedVersion("hpt", 1, str(base / "1"))
    sig = version.signature("serving_default")
    own = timed(lambda: version.run(sig, {"x": x}), args.requests)
    limit = min(public, own, key=lambda s: pct(s, 0.5))

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

    lp50, lp99 = pct(limit, 0.5), pct(limit, 0.99)
    print(f"{'path':<22}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'ratio p50':>11}")
    print(f"{'in-process, public':<22}{pct(public, 0.5):>9.3f}{pct(public, 0.99):>9.3f}")
    print(f"{'in-process, server':<22}{pct(own, 0.5):>9.3f}{pct(own, 0.99):>9.3f}")
    print(f"{'limit (the faster)':<22}{lp50:>9.3f}{lp99:>9.3f}{'':>11}{'1.00':>11}")
    for name, s in (("REST :predict", rest), ("gRPC Predict", grpc_lat)):
        p50 = pct(s, 0.5)
        print(f"{name:<22}{p50:>9.3f}{pct(s, 0.99):>9.3f}{p50 - lp50:>11.3f}{p50 / lp50:>11.2f}")
    print(f"requests/s at concurrency 8: REST {rps_rest:.0f} (batching on: {rps_rest_b:.0f}), "
          f"gRPC {rps_grpc:.0f} (batching on: {rps_grpc_b:.0f}); cpus={os.cpu_count()}")
    rest_added, grpc_added = pct(rest, 0.5) - lp50, pct(grpc_lat, 0.5) - lp50
    ok = rest_added <= 2.0 and grpc_added <= 1.0
    print(f"REST added p50 {rest_added:.3f} ms (target <= 2), gRPC added p50 {grpc_added:.3f} ms "
          f"(target <= 1): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
