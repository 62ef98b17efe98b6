"""Is each service a stack uses reachable? One short probe each, for telling an
infrastructure failure (exit 3) from a user's mistake (exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from maas_iac.spec import StackConfig

__all__ = ["docker_client", "kafka_admin", "unreachable"]


def docker_client(stack: StackConfig, timeout_s: float = 10) -> Any:
    """A Docker SDK client for the stack's engine (DOCKER_HOST wins, as in the providers)."""
    import os

    import docker

    base_url = os.environ.get("DOCKER_HOST") or stack.docker_host
    return docker.DockerClient(base_url=base_url, timeout=timeout_s, use_ssh_client=base_url.startswith("ssh://"))


def kafka_admin(stack: StackConfig) -> Any:
    """An AdminClient for the stack's Kafka cluster (PLAINTEXT; SASL settings when configured)."""
    from confluent_kafka.admin import AdminClient

    kafka = stack.kafka
    # log_level 4: warnings and worse; librdkafka otherwise prints its info lines on stderr.
    conf: dict[str, Any] = {"bootstrap.servers": ",".join(kafka.bootstrap_servers), "socket.timeout.ms": 5000,
                            "log_level": 4}
    if kafka.security_protocol != "PLAINTEXT":
        # The plaintext is there when the config came from the engine (``get_all_config``).
        password = kafka.sasl_password.plaintext if kafka.sasl_password else None
        conf.update({"security.protocol": kafka.security_protocol, "sasl.mechanism": kafka.sasl_mechanism,
                     "sasl.username": kafka.sasl_username, "sasl.password": password or ""})
    return AdminClient(conf)


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
    from maas_iac.providers.docker_image import RegistryError, manifest_digest

    try:
        manifest_digest(stack.registry, "maas/reachability-probe", "none", timeout_s=5)
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
