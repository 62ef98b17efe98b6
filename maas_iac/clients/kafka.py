"""The one Kafka client factory (confluent-kafka)."""

from __future__ import annotations

from typing import Any

from maas_iac.clients.endpoints import KafkaEndpoint

__all__ = ["admin_client", "producer"]

_QUIET = {"log_level": 4}
"""librdkafka logs warnings and worse only; its info lines would clutter the engine's output."""


def admin_client(endpoint: KafkaEndpoint, timeout_ms: int = 10_000) -> Any:
    """An AdminClient for ``endpoint``."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({**endpoint.client_config(), "socket.timeout.ms": timeout_ms, **_QUIET})


def producer(endpoint: KafkaEndpoint, **settings: Any) -> Any:
    """A Producer for ``endpoint`` with extra librdkafka ``settings`` (dots as in librdkafka)."""
    from confluent_kafka import Producer

    return Producer({**endpoint.client_config(), **_QUIET, **settings})
