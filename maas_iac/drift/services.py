"""Is each service a stack uses reachable? One short probe each, for telling an
infrastructure failure (exit 3) from a user's mistake (exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from maas_iac.clients import Connections
from maas_iac.clients.docker import open_docker
from maas_iac.clients.kafka import admin_client
from maas_iac.clients.registry import manifest_digest
from maas_iac.errors import RegistryError
from maas_iac.spec import StackConfig

__all__ = ["docker_client", "kafka_admin", "unreachable"]


def docker_client(stack: StackConfig, timeout_s: float = 10) -> Any:
    """A Docker SDK client for the stack's engine (the caller closes it)."""
    return open_docker(Connections.from_stack(stack).docker, timeout_s)


def kafka_admin(stack: StackConfig) -> Any:
    """An AdminClient for the stack's Kafka cluster."""
    return admin_client(Connections.from_stack(stack).kafka, timeout_ms=5000)


def _docker(stack: StackConfig) -> Optional[str]:
    try:
        client = docker_client(stack, timeout_s=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable here
        return f"Docker engine at {stack.docker_host} does not answer ({_first_line(exc)})"
    return None


def _registry(stack: StackConfig) -> Optional[str]:
    try:
        manifest_digest(Connections.from_stack(stack).registry, "maas/reachability-probe", "none", timeout_s=5)
    except RegistryError as exc:
        return f"registry {stack.registry} does not answer ({_first_line(exc)})"
    return None


def _kafka(stack: StackConfig) -> Optional[str]:
    try:
        kafka_admin(stack).list_topics(timeout=5)
    except Exception as exc:  # noqa: BLE001
        return f"Kafka at {','.join(stack.kafka.bootstrap_servers)} does not answer ({_first_line(exc)})"
    return None


PROBES: dict[str, Callable[[StackConfig], Optional[str]]] = {"docker": _docker, "registry": _registry, "kafka": _kafka}


def unreachable(stack: StackConfig, services: tuple[str, ...] = ("docker", "registry", "kafka")) -> list[str]:
    """One message per service among ``services`` that does not answer (empty: all do)."""
    return [msg for name in services if (msg := PROBES[name](stack))]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
