"""No-op ``pulumi up`` of the project's program against a raw Pulumi program of the same resources.

Two stacks run side by side, each in its own scratch project (``bench_stacks``):

* ``bench-noop-maas`` (port offset 4000): the project's program with N specs, ``nm00`` …, all
  pointing at the example repository (``ref: v1``), one replica each;
* ``bench-noop-raw`` (port offset 4100): a hand-written program that declares the same
  resources with :mod:`maas_iac.providers` directly: the network and events topic, then per
  model the registry image, the replica, the router, the two topics and the deployment event
  (:class:`maas_iac.events.ModelVersionEvent`), and last the orphan sweeper. No spec loading,
  no Git resolution, no components: every input (image tag and repo digest, container specs,
  router config, topic configs) is a literal in its ``__main__.py``, which this script writes
  from the inputs the deployed maas stack's state records, moved to the raw stack's name and
  ports.

The stacks grow through the sizes (1, 5, 10 by default): both are brought to N models (not
timed), then each gets one untimed no-op ``up`` and ROUNDS timed ones, alternately; each timed
``up`` must change nothing. Ten models are 10 replicas and 10 routers per stack, 40 containers in
all: the health probes run every 10 s to keep the idle load down on a small machine. Both stacks
are destroyed at the end, also on failure. Target: median maas / median raw at most 1.2.

    python benchmarks/noop_up.py [--sizes 1,5,10] [--rounds 3] [--no-refresh]

The scratch projects take the project's settings; where those refresh before every ``up``
(``refresh: always``), so does each no-op ``up`` here, in both stacks, unless ``--no-refresh``.

Last line: the ratio at the largest size.
"""

from __future__ import annotations

import argparse
import pprint
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stacks import BenchStack, bench_config, bench_stack, ports_free  # noqa: E402

TARGET_RATIO = 1.2
MAAS_STACK, MAAS_OFFSET = "bench-noop-maas", 4000
RAW_STACK, RAW_OFFSET = "bench-noop-raw", 4100
REST_BASE = 9000  # model i: REST on 9000 + 2i, gRPC on 9001 + 2i, before the stack's offset

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: {name}
source:
  repository: {repo}
  ref: v1
  path: models/half_plus_two
serving:
  replicas: 1
  ports: {{rest: {rest}, grpc: {grpc}}}
  resources: {{cpus: 1.0, memory: 1Gi}}
  health: {{intervalSeconds: 10, timeoutSeconds: 3, startPeriodSeconds: 240, retries: 3}}
  drainSeconds: 1
  env: {{TF_CPP_MIN_LOG_LEVEL: "2"}}
topics:
  requests: {{partitions: 3, replicationFactor: 1}}
  predictions: {{partitions: 3, replicationFactor: 1}}
"""

RAW_PROGRAM = '''"""The raw program: the resources of the project's program for {n} models, declared directly."""

import pulumi

from maas_iac.events import ModelVersionEvent
from maas_iac.providers import Container, ContainerSweeper, Network, RegistryImage, Topic

STACK = {stack}

MODELS = {models}

network = Network("network", name=STACK["network"], labels={{"maas.stack": STACK["name"]}})
events = Topic("model-events", name=STACK["events_topic"], partitions=3, replication_factor=1,
               config={{"cleanup.policy": "compact"}}, bootstrap_servers=STACK["bootstrap"])
containers, everything = [], []
for m in MODELS:
    name = m["name"]
    image = RegistryImage(f"{{name}}-image-image", **m["image"])
    replica = Container(f"{{name}}-replicas-0", image=m["repo_digest"], network=network.name, **m["replica"],
                        opts=pulumi.ResourceOptions(depends_on=[image]))
    router = Container(f"{{name}}-router-haproxy", network=network.name, **m["router"])
    topics = [Topic(f"{{name}}-topics-{{role}}", bootstrap_servers=STACK["bootstrap"], **t)
              for role, t in m["topics"].items()]
    event = ModelVersionEvent(f"{{name}}-deployed", bootstrap_servers=STACK["bootstrap"], topic=events.name,
                              image=m["repo_digest"], **m["event"],
                              opts=pulumi.ResourceOptions(depends_on=[replica, router, *topics]))
    containers += [replica, router]
    everything += [image, replica, router, *topics, event]
    pulumi.export(name, {{"rest": m["rest"], "grpc": m["grpc"], "image": m["repo_digest"]}})
ContainerSweeper("orphans", labels={{"maas.stack": STACK["name"]}},
                 keep=pulumi.Output.all(*[c.container_id for c in containers]).apply(list),
                 opts=pulumi.ResourceOptions(depends_on=everything))
pulumi.export("eventsTopic", events.name)
pulumi.export("network", network.name)
'''


def _spec(i: int, repo: Path) -> tuple[str, str]:
    name = f"nm{i:02d}"
    return f"{name}.yaml", SPEC.format(name=name, repo=repo, rest=REST_BASE + 2 * i, grpc=REST_BASE + 2 * i + 1)


_KWARGS = {
    "RegistryImage": ("context", "repository", "tag", "registry", "dockerfile", "build_args", "labels"),
    "Container": ("image", "name", "name_prefix", "command", "env", "labels", "aliases", "ports", "healthcheck",
                  "restart", "cpus", "memory_mb", "stop_grace_period_s", "healthy_timeout_s"),
    "Topic": ("name", "partitions", "replication_factor", "config", "allow_destructive"),
    "ModelVersionEvent": ("model", "stack", "git_sha", "repository", "digest", "versions", "replicas"),
}


def _for_raw(value: Any, old: str, new: str) -> Any:
    """A state value with the maas stack's name replaced by the raw stack's (labels, container and
    topic names) and whole numbers back as ints (the state keeps numbers as floats)."""
    if isinstance(value, dict):
        return {k: _for_raw(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_raw(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def raw_literals(maas: BenchStack, raw_name: str, port_shift: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The raw program's inputs: the inputs the maas stack's state records for each model's
    resources (so the image tag and repo digest, container specs, router config and topic
    configs are exactly the deployed ones), moved to the raw stack's name and ports."""
    old = maas.name
    by_model: dict[str, dict[str, Any]] = {}
    stack: dict[str, Any] = {"name": raw_name}
    for res in maas.stack.export_stack().deployment.get("resources", []):
        kind = res["type"].rsplit(":", 1)[-1]
        name = res["urn"].rsplit("::", 1)[-1]
        inputs = res.get("inputs") or {}
        if kind == "Network":
            stack["network"] = _for_raw(inputs["name"], old, raw_name)
        elif name == "model-events":
            stack["events_topic"] = _for_raw(inputs["name"], old, raw_name)
            stack["bootstrap"] = inputs["bootstrap_servers"]
        if kind not in _KWARGS or name == "model-events":
            continue
        kwargs = _for_raw({k: inputs[k] for k in _KWARGS[kind] if inputs.get(k) is not None}, old, raw_name)
        model = by_model.setdefault(name.split("-", 1)[0], {"name": name.split("-", 1)[0], "topics": {}})
        if kind == "RegistryImage":
            model["image"] = kwargs
            model["repo_digest"] = res["outputs"]["repo_digest"]
        elif kind == "Container" and res["outputs"]["labels"].get("maas.role") == "router":
            for port in kwargs["ports"]:
                port["external"] += port_shift
            model["rest"] = "http://{host_ip}:{external}/v1/models/".format(**kwargs["ports"][0]) + model["name"]
            model["grpc"] = "{host_ip}:{external}".format(**kwargs["ports"][1])
            model["router"] = kwargs
        elif kind == "Container":
            for key in ("image", "name"):  # the image comes from repo_digest; the name is generated
                kwargs.pop(key, None)
            model["replica"] = kwargs
        elif kind == "Topic":
            model["topics"][name.rsplit("-", 1)[1]] = kwargs
        elif kind == "ModelVersionEvent":
            model["event"] = kwargs
    models = [by_model[k] for k in sorted(by_model)]
    for m in models:
        missing = {"image", "replica", "router", "event"} - set(m) or ({"requests", "predictions"} - set(m["topics"]))
        if missing:
            raise RuntimeError(f"the maas stack's state lacks {sorted(missing)} of model {m['name']}")
    return stack, models


def write_raw_program(raw: BenchStack, maas: BenchStack) -> None:
    stack, models = raw_literals(maas, raw.name, RAW_OFFSET - MAAS_OFFSET)
    (raw.project / "__main__.py").write_text(RAW_PROGRAM.format(
        n=len(models), stack=pprint.pformat(stack, width=110), models=pprint.pformat(models, width=110)))


def _check_serving(endpoint: str) -> None:
    from maas_iac.examples.predict import predict_rest

    got = predict_rest(endpoint, [1.0, 2.0, 5.0])
    if got != [2.5, 3.0, 4.5]:
        raise RuntimeError(f"{endpoint} predicted {got}")


def _noop(stack: BenchStack) -> float:
    took, changed = stack.up()
    if changed:
        raise RuntimeError(f"{stack.name}: a no-op up changed {changed}")
    return took


def measure(maas: BenchStack, raw: BenchStack, repo: Path, sizes: list[int], rounds: int,
            refresh: bool = True) -> dict[int, tuple]:
    results = {}
    if not refresh:
        for bench in (maas, raw):
            settings = bench.project / "Pulumi.yaml"
            settings.write_text(settings.read_text().replace("options:\n  refresh: always\n", ""))
    refresh = "refresh: always" in (maas.project / "Pulumi.yaml").read_text()
    print(f"scratch projects {'refresh before every up (refresh: always)' if refresh else 'do not refresh'}", flush=True)
    for n in sizes:
        for i in range(n):
            maas.write_model(*_spec(i, repo))
        deploy_maas, changed = maas.up()
        print(f"{n:3d} models: maas stack deployed in {deploy_maas:.1f}s ({changed})", flush=True)
        write_raw_program(raw, maas)
        deploy_raw, changed = raw.up()
        print(f"{n:3d} models: raw stack deployed in {deploy_raw:.1f}s ({changed})", flush=True)
        last = f"nm{n - 1:02d}"
        _check_serving(f"http://127.0.0.1:{REST_BASE + 2 * (n - 1) + MAAS_OFFSET}/v1/models/{last}")
        _check_serving(f"http://127.0.0.1:{REST_BASE + 2 * (n - 1) + RAW_OFFSET}/v1/models/{last}")
        _noop(maas), _noop(raw)  # warm: page cache, plugin start, state files
        times: dict[str, list[float]] = {"maas": [], "raw": []}
        for _ in range(rounds):
            times["maas"].append(_noop(maas))
            times["raw"].append(_noop(raw))
        m, r = statistics.median(times["maas"]), statistics.median(times["raw"])
        results[n] = (m, r, times)
        print(f"{n:3d} models: no-op up maas {' '.join(f'{t:.2f}' for t in times['maas'])} s, "
              f"raw {' '.join(f'{t:.2f}' for t in times['raw'])} s", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,5,10", help="model counts, ascending (the stacks grow)")
    parser.add_argument("--rounds", type=int, default=3, help="timed no-op ups per stack and size")
    parser.add_argument("--no-refresh", action="store_true",
                        help="drop the project's refresh-before-up option from both scratch projects")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    from maas_iac.examples.example_repo import ensure_example_repo

    ports_free([REST_BASE + 2 * i + off + d for i in range(sizes[-1]) for off in (MAAS_OFFSET, RAW_OFFSET)
                for d in (0, 1)])
    repo = ensure_example_repo()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="maas-noop-bench-") as tmp:
        root = Path(tmp)
        with bench_stack(root, MAAS_STACK, bench_config(MAAS_OFFSET), {}) as maas, \
                bench_stack(root, RAW_STACK, bench_config(RAW_OFFSET), {}) as raw:
            results = measure(maas, raw, repo, sizes, args.rounds, refresh=not args.no_refresh)
    print(f"total {time.monotonic() - started:.0f}s including deploys and destroys")
    print()
    print(f"{'models':>6}  {'maas median s':>13}  {'raw median s':>12}  {'maas/raw':>8}  {'maas - raw s':>12}")
    for n, (m, r, _) in results.items():
        print(f"{n:6d}  {m:13.2f}  {r:12.2f}  {m / r:8.3f}  {m - r:12.2f}")
    largest = sizes[-1]
    ratio = results[largest][0] / results[largest][1]
    print(f"target maas/raw <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    print(f"maas/raw no-op up at {largest} models: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
