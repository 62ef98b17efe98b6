"""Scratch stacks for the benchmarks that deploy for real: layout, engine and teardown.

A bench stack lives in its own scratch project (:func:`maas_iac.automation.scratch_project`)
with its own file backend and ``MAAS_CACHE``, so it never touches the checkout's stacks, state or
Git mirrors. Its stack name should start with ``bench-`` and its port offset be 4000 or more
(the ``local`` stack uses none, the end-to-end tests 2000 and 3000). On the way in and on the
way out, whatever carries the stack's label (containers, networks) and its topics is removed,
so a crashed earlier run cannot get in the way and a failed one leaves nothing behind.

The stack configuration, the model repository and the request loop come from the end-to-end
harness (``tests/e2e/conftest.py``).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maas_iac.automation import scratch_project, select_stack  # noqa: E402
from tests.e2e.conftest import KAFKA, STACK_CONFIG, changes  # noqa: E402

__all__ = ["BenchStack", "bench_config", "bench_stack", "changes", "clean_leftovers", "ports_free"]


def bench_config(port_offset: int) -> dict[str, Any]:
    """The end-to-end tests' stack configuration with this benchmark's port offset."""
    if port_offset < 4000:
        raise ValueError("bench stacks use port offsets of 4000 and more")
    return {**STACK_CONFIG, "maas:portOffset": port_offset}


def ports_free(ports: list[int]) -> None:
    """Exits with a message when one of the host ports is already bound on 127.0.0.1."""
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                sys.exit(f"port {port} on 127.0.0.1 is in use; is another run of this benchmark going on?")


def clean_leftovers(stack: str) -> None:
    """Remove the containers and networks labelled with ``stack`` and its ``<stack>.`` topics."""
    import docker
    from confluent_kafka.admin import AdminClient

    from tests.e2e.conftest import clean_leftovers as clean

    if not stack.startswith("bench-"):
        raise ValueError(f"refusing to clean {stack!r}: not a bench stack")
    client = docker.from_env(timeout=120)
    try:
        clean(client, AdminClient({"bootstrap.servers": KAFKA, "socket.timeout.ms": 5000}), stack)
    finally:
        client.close()


@dataclass
class BenchStack:
    """A deployed-or-not bench stack and its scratch project."""

    name: str
    project: Path
    stack: Any

    def write_model(self, file_name: str, text: str) -> None:
        (self.project / "models" / file_name).write_text(text)

    def up(self) -> tuple[float, dict[str, int]]:
        """``up`` (no preview): its wall time in seconds and its changes (no ``same``)."""
        start = time.perf_counter()
        result = self.stack.up(on_output=lambda _line: None)
        took = time.perf_counter() - start
        return took, changes(result.summary.resource_changes or {})


@contextmanager
def bench_stack(root: Path, name: str, config: Mapping[str, Any], models: Mapping[str, str]) -> Iterator[BenchStack]:
    """A scratch project in ``root`` with stack ``name``; destroyed and cleaned up on exit,
    whatever happened."""
    project = scratch_project(root / name, name, config, models)
    extra = {"PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state", "MAAS_CACHE": str(root / "cache")}
    (project / ".pulumi-state").mkdir(exist_ok=True)
    clean_leftovers(name)
    stack = select_stack(name, project, env=extra)
    try:
        yield BenchStack(name=name, project=project, stack=stack)
    finally:
        try:
            stack.destroy(on_output=lambda _line: None)
        except Exception as exc:  # noqa: BLE001 - the leftovers are removed below anyway
            print(f"{name}: destroy failed ({type(exc).__name__}); removing its containers and topics", file=sys.stderr)
        finally:
            clean_leftovers(name)
            stack.workspace.remove_stack(name, force=True)
