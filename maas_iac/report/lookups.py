"""The real :class:`~maas_iac.report.changes.Lookups`: the Git mirror cache, the registry, the
build contexts the preview's program run wrote and the bridges' consumer groups on Kafka.
Every look-up is read-only and answers ``None`` rather than failing: a card with one unknown
field beats no card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from typing import Any

from maas_iac.clients.endpoints import KafkaEndpoint, RegistryEndpoint
from maas_iac.clients.kafka import GroupLag
from maas_iac.report.changes import Lookups

__all__ = ["bridge_group", "commit_subject", "image_cached", "layer_bytes", "local_lookups"]


def commit_subject(repository: str, sha: str, cache: Optional[Path] = None) -> Optional[str]:
    """The subject of ``sha`` from the mirror of ``repository`` under ``$MAAS_CACHE/git``
    (the layout of :class:`maas_iac.source.GitMirror`); never fetches."""
    from maas_iac.resolve import cache_dir
    from maas_iac.source import GitMirror

    return GitMirror((cache or cache_dir()) / "git").subject(repository, sha)


def image_cached(registry: str, repository: str, tag: str, login: Optional[RegistryEndpoint] = None) -> Optional[bool]:
    """Whether the registry has ``repository:tag`` (asked with ``login`` when it is that
    registry's); None when it cannot be asked."""
    from maas_iac.clients.registry import manifest_digest
    from maas_iac.errors import RegistryError

    endpoint = login if login is not None and login.address == registry else registry
    try:
        return manifest_digest(endpoint, repository, tag, timeout_s=5) is not None
    except RegistryError:
        return None


def layer_bytes(context: str) -> Optional[int]:
    """Bytes the model's own layers copy from the build context: the served version
    directories and the serving config. None when the context was not written (the program
    writes it only when the registry lacks the tag)."""
    root = Path(context)
    if not (root / "model").is_dir():
        return None
    files = [p for p in (root / "model").rglob("*") if p.is_file()]
    files += [root / name for name in ("models.config", "batching.config") if (root / name).is_file()]
    return sum(p.stat().st_size for p in files)


def bridge_group(admin: Any, stack: str, model: str) -> Optional[GroupLag]:
    """``model``'s bridge consumer group on ``stack``'s Kafka (through ``admin``), None when it
    cannot be asked."""
    from confluent_kafka import KafkaException

    from maas_iac.clients.kafka import bridge_lag

    try:
        return bridge_lag(admin, stack, model, timeout_s=5)
    except KafkaException:
        return None


def local_lookups(registry: Optional[RegistryEndpoint] = None, kafka: Optional[KafkaEndpoint] = None) -> Lookups:
    """Lookups against this machine's Git cache, the stack's registry (with its login), build
    contexts and the stack's Kafka (for the bridges' lag)."""
    from maas_iac.clients.kafka import admin_client

    admin = admin_client(kafka, timeout_ms=5000) if kafka else None  # one for every model's look-up
    return Lookups(commit_subject=commit_subject, layer_bytes=layer_bytes,
                   image_cached=lambda address, repository, tag: image_cached(address, repository, tag, registry),
                   bridge_group=(lambda stack, model: bridge_group(admin, stack, model)) if admin else
                   (lambda stack, model: None))
