"""Rollout of a new model version: seconds from the spec change to the new version serving
through the router, and the requests that fail meanwhile.

The stack ``bench-rollout`` (port offset 4200, its own scratch project) runs one model with two
replicas from a fresh copy of the end-to-end tests' model repository (``v1``: y = x/2 + 2,
``v2``: y = x/2 + 3; this run's id in every version, so ``v2`` really builds a new image). With
``v1`` deployed and serving, a steady REST loop (25 req/s, a new connection per request) and a
gRPC loop (10 req/s, a new channel per request) run through the router; then the spec's ref
moves to ``v2`` and ``up`` runs. Time to serve: from writing the spec to the first REST answer
of the new version (it covers resolving, the load check, build, push, the new replicas' health
gate and the router's pick-up). The loops go on for SETTLE seconds after ``up`` returns, so
failures right after the old replicas leave count too. A failure is any non-200 answer or
connection error (REST) or any error status (gRPC), counted separately; target: 0 REST failures.
With ``--rounds`` above 1 the ref moves back and forth (``v1`` again reuses its image). The stack
is destroyed at the end, also on failure.

    python benchmarks/rollout.py [--rounds 1] [--settle 10]

Last line: seconds to serve and failed requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the model repository and the gRPC protos import TensorFlow

from bench_stacks import BenchStack, bench_config, bench_stack, ports_free  # noqa: E402
from tests.e2e.conftest import SPEC, ExampleModels, GrpcLoop, RequestLoop  # noqa: E402

STACK, PORT_OFFSET = "bench-rollout", 4200
MODEL = "rollout"
REST_PORT, GRPC_PORT = 8501, 8500  # before the stack's offset
X = [1.0]
ANSWER = {"v1": 2.5, "v2": 3.5}  # y(1) for each ref
REST_RATE, GRPC_RATE = 25, 10


class FirstAnswer:
    """Watches a loop's answers for the first one equal to ``value``; remembers when it came."""

    def __init__(self, loop: Any, value: float) -> None:
        self.loop, self.value = loop, value
        self.seen = len(loop.values)
        self.at: float | None = None
        self.last_other: float | None = None

    def poll(self) -> None:
        now, values = time.monotonic(), self.loop.values
        new, self.seen = values[self.seen:], len(values)
        for v in new:
            if v == self.value:
                self.at = self.at or now
            else:
                self.last_other = now


def _write_spec(bench: BenchStack, repo: ExampleModels, ref: str) -> None:
    bench.write_model(f"{MODEL}.yaml", SPEC.format(name=MODEL, repo=repo.path, ref=ref, replicas=2,
                                                   rest=REST_PORT, grpc=GRPC_PORT, partitions=3))


def rollout(bench: BenchStack, repo: ExampleModels, ref: str, settle_s: float, timeout_s: float) -> dict[str, Any]:
    """Move the spec to ``ref`` under load; the figures of that rollout."""
    rest = f"http://127.0.0.1:{REST_PORT + PORT_OFFSET}/v1/models/{MODEL}"
    grpc = f"127.0.0.1:{GRPC_PORT + PORT_OFFSET}"
    outcome: dict[str, Any] = {}

    def up() -> None:
        try:
            outcome["up_s"], outcome["changes"] = bench.up()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            outcome["error"] = exc
        outcome["done"] = time.monotonic()

    with RequestLoop(rest, rate_per_s=REST_RATE, max_s=timeout_s) as load, \
            GrpcLoop(grpc, MODEL, rate_per_s=GRPC_RATE, max_s=timeout_s) as gload:
        time.sleep(3)  # steady load before the change
        rest_new, grpc_new = FirstAnswer(load, ANSWER[ref]), FirstAnswer(gload, ANSWER[ref])
        changed = time.monotonic()
        _write_spec(bench, repo, ref)
        worker = threading.Thread(target=up, daemon=True)
        worker.start()
        while time.monotonic() - changed < timeout_s:
            rest_new.poll(), grpc_new.poll()
            if "done" in outcome and time.monotonic() - outcome["done"] >= settle_s:
                break
            time.sleep(0.05)
        worker.join(60)
    if "error" in outcome:
        raise RuntimeError(f"up to {ref} failed: {outcome['error']}") from outcome["error"]
    if "done" not in outcome:
        raise RuntimeError(f"up to {ref} did not finish within {timeout_s:.0f}s")
    since = lambda t: None if t is None else t - changed  # noqa: E731
    return {
        "ref": ref, "up_s": outcome["up_s"], "changes": outcome["changes"],
        "rest_serves_s": since(rest_new.at), "rest_last_old_s": since(rest_new.last_other),
        "grpc_serves_s": since(grpc_new.at), "up_done_s": outcome["done"] - changed,
        "rest": load, "grpc": gload,
    }


def _fmt(t: float | None) -> str:
    return "never" if t is None else f"{t:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rollouts, alternately to v2 and back to v1")
    parser.add_argument("--settle", type=float, default=10, help="seconds the loops go on after up returns")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one rollout may take")
    args = parser.parse_args()
    ports_free([REST_PORT + PORT_OFFSET, GRPC_PORT + PORT_OFFSET])

    from maas_iac.examples.predict import predict_grpc, predict_rest

    results = []
    with tempfile.TemporaryDirectory(prefix="maas-rollout-bench-") as tmp:
        root = Path(tmp)
        start = time.monotonic()
        repo = ExampleModels(root / "example-models")
        print(f"model repository with v1, v2: {time.monotonic() - start:.1f}s", flush=True)
        with bench_stack(root, STACK, bench_config(PORT_OFFSET), {}) as bench:
            _write_spec(bench, repo, "v1")
            took, changed = bench.up()
            print(f"v1 deployed in {took:.1f}s ({changed})", flush=True)
            rest = f"http://127.0.0.1:{REST_PORT + PORT_OFFSET}/v1/models/{MODEL}"
            grpc = f"127.0.0.1:{GRPC_PORT + PORT_OFFSET}"
            print(f"before: REST {predict_rest(rest, X)}, gRPC {predict_grpc(grpc, MODEL, X)}", flush=True)
            for i in range(args.rounds):
                ref = "v2" if i % 2 == 0 else "v1"
                r = rollout(bench, repo, ref, args.settle, args.timeout)
                results.append(r)
                load, gload = r["rest"], r["grpc"]
                print(f"-> {ref}: up {r['up_s']:.1f}s {r['changes']}; new version over REST after "
                      f"{_fmt(r['rest_serves_s'])}s (last old answer {_fmt(r['rest_last_old_s'])}s), over gRPC after "
                      f"{_fmt(r['grpc_serves_s'])}s", flush=True)
                print(f"   REST {load.total} requests at {load.rate:.1f}/s, {len(load.failures)} failed "
                      f"{load.failures[:3]}", flush=True)
                print(f"   gRPC {gload.total} requests at {gload.rate:.1f}/s, {len(gload.failures)} failed "
                      f"{gload.failures[:3]}", flush=True)
            try:
                after = predict_grpc(grpc, MODEL, X)
            except RuntimeError as exc:
                after = f"failed: {exc}"
            print(f"after: REST {predict_rest(rest, X)}, gRPC {after}", flush=True)

    print()
    print(f"{'rollout':>8}  {'up s':>6}  {'REST serves s':>13}  {'gRPC serves s':>13}  "
          f"{'REST failed/total':>17}  {'REST req/s':>10}  {'gRPC failed/total':>17}")
    for r in results:
        load, gload = r["rest"], r["grpc"]
        print(f"{'-> ' + r['ref']:>8}  {r['up_s']:6.1f}  {_fmt(r['rest_serves_s']):>13}  {_fmt(r['grpc_serves_s']):>13}  "
              f"{f'{len(load.failures)}/{load.total}':>17}  {load.rate:10.1f}  "
              f"{f'{len(gload.failures)}/{gload.total}':>17}")
    served = [r["rest_serves_s"] for r in results]
    rest_failed = sum(len(r["rest"].failures) for r in results)
    grpc_failed = sum(len(r["grpc"].failures) for r in results)
    print(f"target 0 failed REST requests: {'met' if rest_failed == 0 else 'NOT met'}")
    if any(s is None for s in served):
        print(f"new version never served over REST; failed REST requests {rest_failed}, gRPC {grpc_failed}")
        return 1
    print(f"new version serving after {statistics.median(served):.1f}s; failed requests: REST {rest_failed}, "
          f"gRPC {grpc_failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
