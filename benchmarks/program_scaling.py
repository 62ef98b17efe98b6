"""Program construction time under Pulumi mocks for 1, 10, 50 and 200 model specs.

Runs the real program (spec loading and validation, Git resolution against a real local
repository, digests, component construction) with the engine replaced by mocks and the
registry look-up answered "present" (no build contexts written), in a fresh process per size
so that nothing is shared between sizes. Side by side, the floor: the same custom resources
declared directly, with no specs, Git, components or outputs, under the same mocks and the
same garbage-collector policy (what the Pulumi SDK itself costs). Target: linear, at most
20 ms per model.

    python benchmarks/program_scaling.py [--sizes 1,10,50,200] [--repeat 3]

Last line: milliseconds per model at the largest size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: m{i:03d}}}
source: {{repository: {repo}, ref: main, path: models/m}}
serving: {{replicas: 2, ports: {{rest: {rest}, grpc: {grpc}}}}}
topics: {{requests: {{partitions: 3}}, predictions: {{partitions: 3}}}}
"""

CONFIG = {
    "maas:registry": "127.0.0.1:5000",
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": json.dumps({"bootstrapServers": "127.0.0.1:9092"}),
    "maas:servingBaseImage": "127.0.0.1:5000/maas/serving:2.21.0",
}


def _make_repo(path: Path) -> None:
    run = lambda *a: subprocess.run(["git", *a], cwd=path, check=True, capture_output=True)  # noqa: E731
    (path / "models" / "m" / "1" / "variables").mkdir(parents=True)
    (path / "models" / "m" / "1" / "saved_model.pb").write_bytes(os.urandom(4096))
    (path / "models" / "m" / "1" / "variables" / "variables.index").write_bytes(os.urandom(512))
    run("init", "-q", "-b", "main")
    run("-c", "user.email=b@x", "-c", "user.name=b", "add", "-A")
    run("-c", "user.email=b@x", "-c", "user.name=b", "commit", "-q", "-m", "model")


class _CountingMocks:
    """The lightest mocks: every resource's outputs are its inputs; model images are counted."""

    def __init__(self) -> None:
        self.images = 0

    def new_resource(self, args):  # pulumi.runtime.Mocks protocol
        if args.typ.endswith(":RegistryImage"):
            self.images += 1
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        return {}, None


def _child(models: str, n: int) -> None:
    """Runs in a fresh process: construct the program once and print the seconds it took."""
    import pulumi

    import maas_iac.program as program

    program.manifest_digest = lambda registry, repo, tag: "sha256:" + "0" * 64
    mocks = _CountingMocks()
    pulumi.runtime.set_mocks(mocks, project="maas-iac", stack="bench", preview=False)

    @pulumi.runtime.test
    def construct():
        program.main()
        return pulumi.Output.from_input(True)

    start = time.perf_counter()
    construct()
    elapsed = time.perf_counter() - start
    assert mocks.images == n, f"expected {n} model images, got {mocks.images}"
    print(json.dumps({"seconds": elapsed}))


def _child_raw(n: int) -> None:
    """The floor: the same custom resources per model declared directly (no specs, Git,
    components or outputs), under the same mocks; prints the seconds it took."""
    import pulumi

    from maas_iac.events import ModelVersionEvent
    from maas_iac.gc_policy import tune_for_long_lived_objects
    from maas_iac.providers import Container, Network, RegistryImage, Topic

    tune_for_long_lived_objects()  # as program.main does, so that only the resources differ
    mocks = _CountingMocks()
    pulumi.runtime.set_mocks(mocks, project="maas-iac", stack="bench", preview=False)

    @pulumi.runtime.test
    def construct():
        net = Network("network", name="maas-bench")
        for i in range(n):
            image = RegistryImage(f"m{i}-image", context="/ctx", repository=f"maas/m{i}", tag="md-0", registry="r")
            for j in range(2):
                Container(f"m{i}-replica-{j}", image=image.repo_digest, network=net.name, aliases=[f"m{i}"],
                          command=["--model_config_file=/models/models.config"], labels={"maas.model": f"m{i}"})
            Container(f"m{i}-router", image="haproxy", name=f"m{i}-router", network=net.name, env={"CFG": "x" * 1500})
            for role in ("requests", "predictions"):
                Topic(f"m{i}-{role}", name=f"bench.m{i}.{role}", partitions=3, replication_factor=1,
                      bootstrap_servers="b", config={"cleanup.policy": "delete"})
            ModelVersionEvent(f"m{i}-deployed", bootstrap_servers="b", topic="bench.model-events", model=f"m{i}",
                              stack="bench", git_sha="a" * 40, repository="r", digest="d" * 64,
                              image=image.repo_digest, versions=[1], replicas=2)
        return pulumi.Output.from_input(True)

    start = time.perf_counter()
    construct()
    elapsed = time.perf_counter() - start
    assert mocks.images == n
    print(json.dumps({"seconds": elapsed}))


def _best(argv: list[str], env: dict[str, str], repeat: int, what: str) -> float:
    best = float("inf")
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{what} failed:\n{out.stderr.strip()[-2000:]}")
        best = min(best, json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50,200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODELS", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--child-raw", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if args.child_raw:
        _child_raw(args.child_raw)
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        repo = tmp_path / "repo"
        repo.mkdir()
        _make_repo(repo)
        results = {}
        for n in sizes:
            models = tmp_path / f"models-{n}"
            models.mkdir()
            for i in range(n):
                (models / f"m{i:03d}.yaml").write_text(SPEC.format(i=i, repo=repo, rest=20000 + 2 * i, grpc=20001 + 2 * i))
            env = {**os.environ, "MAAS_MODELS_DIR": str(models), "MAAS_CACHE": str(tmp_path / "cache"),
                   "PULUMI_CONFIG": json.dumps(CONFIG)}
            best = _best(["--child", str(models), str(n)], env, args.repeat, f"{n} models: the program")
            floor = _best(["--child-raw", str(n)], env, args.repeat, f"{n} models: the raw floor")
            results[n] = best
            print(f"{n:4d} models: {best * 1000:8.1f} ms total, {best * 1000 / n:6.2f} ms per model; "
                  f"the same resources declared raw: {floor * 1000 / n:6.2f} ms per model "
                  f"(ratio {best / floor:.2f})")
    small, large = sizes[0], sizes[-1]
    if large > small:
        slope = (results[large] - results[small]) / (large - small) * 1000
        fixed = results[small] * 1000 - slope * small
        print(f"marginal cost {small}->{large} models: {slope:.2f} ms per model, plus {fixed:.0f} ms once "
              f"(Git, stack resources); linear if the per-model figures approach it")
    print(f"ms per model at {large}: {results[large] * 1000 / large:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
