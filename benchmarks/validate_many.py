"""Validate 1,000 generated model spec files (plus one stack) the way ``maas validate`` does.

Writes the specs into a temporary directory, each with its own name and host ports, runs
the whole pipeline over the directory (read, schema, typed model, cross-spec checks) and
prints the figures; the last line is the throughput in files per second.

    python benchmarks/validate_many.py [COUNT]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maas_iac.spec import validate_paths  # noqa: E402

TARGET_SECONDS = 2.0

SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: model-{i}
  description: Generated model {i}
  owner: ml-platform
  labels: {{team: ml-platform, index: "{i}"}}
source:
  repository: https://github.com/example/models.git
  ref: v{i}
  path: models/model_{i}
  versions: {{policy: specific, versions: [1, 2]}}
  labels: {{stable: 1, canary: 2}}
serving:
  replicas: 2
  ports: {{rest: {rest}, grpc: {grpc}}}
  batching: {{enabled: true, maxBatchSize: 32, batchTimeoutMicros: 1000, numBatchThreads: 2, maxEnqueuedBatches: 100}}
  resources: {{cpus: 1.0, memory: 1Gi}}
  health: {{intervalSeconds: 2, timeoutSeconds: 2, startPeriodSeconds: 30, retries: 3}}
  drainSeconds: 5
  env: {{TF_CPP_MIN_LOG_LEVEL: "2"}}
topics:
  requests: {{partitions: 3, replicationFactor: 1, retentionMs: 604800000, cleanupPolicy: delete}}
  predictions: {{partitions: 3, replicationFactor: 1, retentionMs: 604800000, cleanupPolicy: delete, config: {{max.message.bytes: 1048576}}}}
  allowDestructiveChanges: false
rollout: {{strategy: create-before-delete, healthTimeoutSeconds: 300}}
"""

STACK = """\
config:
  maas:registry: 127.0.0.1:5000
  maas:dockerHost: unix:///var/run/docker.sock
  maas:kafka: {bootstrapServers: "127.0.0.1:9092"}
  maas:bindAddress: 127.0.0.1
  maas:allowedSources: [github.com/example/*]
"""


def _validate(root: Path, fast_check: bool) -> tuple[float, object]:
    """One run of the pipeline; without ``fast_check`` every document goes through jsonschema."""
    from maas_iac.spec import schema

    original = schema.fast_check_for
    if not fast_check:
        schema.fast_check_for = lambda _name: (lambda _instance: False)
    try:
        start = time.perf_counter()
        result = validate_paths([root])
        return time.perf_counter() - start, result
    finally:
        schema.fast_check_for = original


def main(count: int = 1000) -> int:
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as tmp:
        root = Path(tmp)
        for i in range(count):
            (root / f"model-{i:04d}.yaml").write_text(
                SPEC.format(i=i, rest=10000 + 2 * i, grpc=10001 + 2 * i), encoding="utf-8"
            )
        (root / "Pulumi.bench.yaml").write_text(STACK, encoding="utf-8")
        _validate(root, fast_check=True)  # warm: schemas compiled, modules imported
        elapsed, result = _validate(root, fast_check=True)
        plain, plain_result = _validate(root, fast_check=False)
    for r in (result, plain_result):
        if not r.ok:
            print("\n".join(str(p) for p in r.problems[:10]), file=sys.stderr)
            return 1
    files = len(result.spec_files) + len(result.stack_files)
    print(f"validated {len(result.specs)} specs and {len(result.stacks)} stack in {elapsed:.3f} s "
          f"(target {TARGET_SECONDS:.1f} s: {'met' if elapsed < TARGET_SECONDS else 'MISSED'})")
    print(f"jsonschema alone (no compiled check): {plain:.3f} s, {plain / elapsed:.2f}x the time; "
          f"{'met' if plain < TARGET_SECONDS else 'MISSED'} the target without it")
    print(f"{files / elapsed:.0f} files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
