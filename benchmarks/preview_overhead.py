"""Wall time of ``maas preview`` against a plain ``pulumi preview`` of the same stack.

Both run as fresh processes, alternately, ROUNDS times each, on a deployed stack with no
changes: ``maas preview`` adds spec validation, the event stream, the model report and its
look-ups to the engine's own preview. Without ``--cwd`` the example model (one replica) is
deployed first as stack ``pvwbench`` in a scratch project (port offset 3000) and destroyed
afterwards. The last line is the ratio of the medians (target: at most 1.15).

    python benchmarks/preview_overhead.py [--rounds N] [--stack S --cwd DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maas_iac.automation import engine_env, scratch_project, select_stack  # noqa: E402
from maas_iac.examples.example_repo import MODEL_PATH, ensure_example_repo  # noqa: E402

TARGET_RATIO = 1.15
STACK = "pvwbench"
SPEC = f"""\
apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: half-plus-two
source:
  repository: {{repository}}
  ref: v1
  path: {MODEL_PATH}
serving:
  replicas: 1
  ports: {{{{rest: 8501, grpc: 8500}}}}
  health: {{{{intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 0, retries: 30}}}}
  drainSeconds: 1
"""
CONFIG = {
    "maas:registry": os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000"),
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": {"bootstrapServers": os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")},
    "maas:portOffset": "3000",
    "maas:servingBaseImage": "127.0.0.1:5000/maas/serving:2.21.0",
    "maas:routerImage": "127.0.0.1:5000/maas/haproxy:2.6",
}


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(stack: str, project: Path, rounds: int) -> float:
    env = {**os.environ, **engine_env(project)}
    plain = ["pulumi", "preview", "--stack", stack, "--cwd", str(project), "--non-interactive", "--color", "never"]
    maas = [sys.executable, "-m", "maas_iac.cli.main", "preview", "--stack", stack, "--cwd", str(project)]
    _timed(plain, env)  # warm the plugin and page caches before anything is measured
    times: dict[str, list[float]] = {"pulumi preview": [], "maas preview": []}
    for _ in range(rounds):
        times["pulumi preview"].append(_timed(plain, env))
        times["maas preview"].append(_timed(maas, env))
    for name, values in times.items():
        print(f"{name:<15} median {statistics.median(values):.2f} s  "
              f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)")
    ratio = statistics.median(times["maas preview"]) / statistics.median(times["pulumi preview"])
    print(f"target ratio <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stack", default=STACK)
    parser.add_argument("--cwd", type=Path, help="project of an already deployed stack (default: deploy one)")
    args = parser.parse_args()
    if args.cwd:
        ratio = measure(args.stack, args.cwd.resolve(), args.rounds)
    else:
        work = Path(tempfile.mkdtemp(prefix="maas-preview-bench-"))
        repo = ensure_example_repo()
        project = scratch_project(work / "project", STACK, CONFIG, {"half-plus-two.yaml": SPEC.format(repository=repo)})
        os.environ["PULUMI_BACKEND_URL"] = f"file://{project}/.pulumi-state"
        stack = select_stack(STACK, project)
        try:
            stack.up(on_output=lambda _line: None)
            ratio = measure(STACK, project, args.rounds)
        finally:
            stack.destroy(on_output=lambda _line: None)
    print(f"{ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
