"""The typed, frozen model of a ModelService spec.

Objects here are built only from documents that passed the schema (``schemas/``), so every
field already has its JSON type and range; defaults live in the field declarations and are
kept equal to the schema's ``default`` annotations by a test. Field names are the spec's
camelCase keys in snake_case (``serving.maxBatchSize`` → ``Batching.max_batch_size``).

``None`` means "unset" wherever a field allows it. Mappings are :class:`FrozenMap` s, lists
are tuples: every object is immutable and hashable, safe to share between components.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

from maas_iac.spec.naming import TopicNames, topic_names

__all__ = [
    "API_VERSION",
    "KIND",
    "AllVersions",
    "Batching",
    "Bridge",
    "FrozenMap",
    "Health",
    "LatestVersions",
    "Metadata",
    "ModelServiceSpec",
    "Ports",
    "Resources",
    "Rollout",
    "Serving",
    "Source",
    "SpecificVersions",
    "TopicSpec",
    "Topics",
    "VersionPolicy",
]

API_VERSION = "maas-iac/v1"
"""The only ``apiVersion`` this version of maas-iac reads."""
KIND = "ModelService"
"""The ``kind`` of a model service spec."""

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable mapping that keeps insertion order."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True, slots=True)
class Metadata:
    """``metadata``: identity of the model service."""

    name: str
    """DNS label naming the model in TF Serving, containers, router and topics."""
    description: str | None = None
    """Free text for previews and outputs."""
    owner: str | None = None
    """Team or person accountable for the service."""
    labels: FrozenMap[str, str] = field(default_factory=FrozenMap)
    """Free-form labels copied onto containers and images."""


@dataclass(frozen=True, slots=True)
class LatestVersions:
    """``versions: {policy: latest, count: N}``: serve the newest ``count`` versions."""

    policy: ClassVar[Literal["latest"]] = "latest"
    count: int = 1
    """How many of the newest versions to serve."""


@dataclass(frozen=True, slots=True)
class SpecificVersions:
    """``versions: {policy: specific, versions: [...]}``: serve exactly these versions."""

    policy: ClassVar[Literal["specific"]] = "specific"
    versions: tuple[int, ...]
    """The version numbers to serve, in the spec's order."""


@dataclass(frozen=True, slots=True)
class AllVersions:
    """``versions: {policy: all}``: serve every version found in the model directory."""

    policy: ClassVar[Literal["all"]] = "all"


VersionPolicy = LatestVersions | SpecificVersions | AllVersions
"""Which versions TF Serving serves; match on the class (or its ``policy``)."""


@dataclass(frozen=True, slots=True)
class Source:
    """``source``: where the model comes from."""

    repository: str
    """Git repository URL or local path, as written (checked safe for ``git``)."""
    ref: str
    """Branch, tag or commit SHA; resolved to a full SHA before building."""
    path: str = "."
    """Model base directory in the repository, relative and '/'-separated, '.' for the root."""
    versions: VersionPolicy = field(default_factory=LatestVersions)
    """Version policy."""
    labels: FrozenMap[str, int] = field(default_factory=FrozenMap)
    """TF Serving version labels: label name → version number."""


@dataclass(frozen=True, slots=True)
class Ports:
    """``serving.ports``: host ports of the model's router (before the stack's portOffset)."""

    rest: int
    """REST API port."""
    grpc: int
    """gRPC API port."""


@dataclass(frozen=True, slots=True)
class Batching:
    """``serving.batching``: TF Serving server-side batching."""

    enabled: bool = False
    """Whether ``--enable_batching`` is on."""
    max_batch_size: int = 32
    """``max_batch_size``."""
    batch_timeout_micros: int = 1000
    """``batch_timeout_micros``."""
    num_batch_threads: int = 2
    """``num_batch_threads``."""
    max_enqueued_batches: int = 100
    """``max_enqueued_batches``."""


@dataclass(frozen=True, slots=True)
class Resources:
    """``serving.resources``: per-replica container limits; ``None`` is no limit."""

    cpus: float | None = None
    """CPU cores (Docker ``--cpus``)."""
    memory: str | None = None
    """Memory limit as written (e.g. ``1Gi``)."""
    memory_bytes: int | None = None
    """The memory limit in bytes."""


@dataclass(frozen=True, slots=True)
class Health:
    """``serving.health``: the replica health check (model AVAILABLE)."""

    interval_seconds: int = 2
    """Seconds between checks."""
    timeout_seconds: int = 2
    """Seconds before one check counts as failed."""
    start_period_seconds: int = 30
    """Start-up grace period in seconds."""
    retries: int = 3
    """Consecutive failures before a replica is unhealthy."""


@dataclass(frozen=True, slots=True)
class Serving:
    """``serving``: replicas, router ports and server settings."""

    ports: Ports
    """Router host ports."""
    base_image: str | None = None
    """Serving base image; ``None`` means the stack's, else :data:`~maas_iac.spec.stack.DEFAULT_SERVING_BASE_IMAGE`."""
    replicas: int = 1
    """Replica count (a stack may override it)."""
    batching: Batching = field(default_factory=Batching)
    """Batching settings."""
    resources: Resources = field(default_factory=Resources)
    """Container limits."""
    health: Health = field(default_factory=Health)
    """Health check timing."""
    drain_seconds: int = 5
    """Seconds a stopping replica keeps serving after failing its health check."""
    env: FrozenMap[str, str] = field(default_factory=FrozenMap)
    """Extra environment variables for the model server."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic under ``topics``."""

    partitions: int = 1
    """Partition count (only grows unless destructive changes are allowed)."""
    replication_factor: int = 1
    """Replicas per partition."""
    retention_ms: int = 604_800_000
    """``retention.ms``; -1 keeps messages forever."""
    cleanup_policy: str = "delete"
    """``cleanup.policy``: delete, compact or compact,delete."""
    config: FrozenMap[str, str] = field(default_factory=FrozenMap)
    """Further topic config by Kafka name, values as strings."""

    def kafka_config(self) -> dict[str, str]:
        """Every declared topic config entry by its Kafka name (typed fields included)."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            **self.config,
        }


@dataclass(frozen=True, slots=True)
class TopicAccess:
    """``topics.access``: principals (``User:<name>``) allowed to use the model's topics."""

    produce_requests: tuple[str, ...] = ()
    """May write the requests topic."""
    read_predictions: tuple[str, ...] = ()
    """May read the predictions topic, in consumer groups ``<stack>.<model>.*``."""
    bridge: str | None = None
    """The principal the model's bridge connects as, with exactly the ACLs the bridge needs
    (:func:`maas_iac.kafka.access.bridge_acl_rules`); ``None``: the stack's own user."""


@dataclass(frozen=True, slots=True)
class Topics:
    """``topics``: the model's requests and predictions topics."""

    requests: TopicSpec = field(default_factory=TopicSpec)
    """``<stack>.<model>.requests``."""
    predictions: TopicSpec = field(default_factory=TopicSpec)
    """``<stack>.<model>.predictions``."""
    errors: TopicSpec = field(default_factory=TopicSpec)
    """``<stack>.<model>.errors``: requests the bridge can never answer (when it is enabled)."""
    allow_destructive_changes: bool = False
    """Opt-in for replication-factor changes and partition decreases."""
    access: TopicAccess = field(default_factory=TopicAccess)
    """Who may produce requests and read predictions (ACLs)."""


@dataclass(frozen=True, slots=True)
class Bridge:
    """``bridge``: the Kafka inference bridge answering the requests topic exactly once."""

    enabled: bool = False
    """Whether bridge instances run. A spec document that declares ``topics`` turns it on
    unless it says ``enabled: false``; built in code, it is off unless asked for."""
    consumers: int = 1
    """Bridge instances (consumers in the group ``<stack>.<model>.bridge``); at most the
    requests topic's partitions."""
    max_batch_size: int = 64
    """Most rows the bridge stacks into one Predict call."""
    linger_ms: int = 5
    """How long the bridge waits to fill a batch after its first request, in milliseconds."""


@dataclass(frozen=True, slots=True)
class Rollout:
    """``rollout``: how new replicas replace old ones."""

    strategy: Literal["create-before-delete"] = "create-before-delete"
    """Only create-before-delete for now."""
    health_timeout_seconds: int = 300
    """How long new replicas may take to turn healthy."""


@dataclass(frozen=True, slots=True)
class ModelServiceSpec:
    """One validated model service spec (``models/<name>.yaml``)."""

    metadata: Metadata
    """Identity."""
    source: Source
    """Git source and versions."""
    serving: Serving
    """Replicas, router and server settings."""
    topics: Topics = field(default_factory=Topics)
    """Kafka topics."""
    bridge: Bridge = field(default_factory=Bridge)
    """The Kafka inference bridge."""
    rollout: Rollout = field(default_factory=Rollout)
    """Rollout behaviour."""
    api_version: str = API_VERSION
    """``apiVersion`` as read."""
    kind: str = KIND
    """``kind`` as read."""
    source_file: Path | None = field(default=None, compare=False)
    """The file the spec was read from, for error messages; ``None`` if built in code."""

    @property
    def name(self) -> str:
        """Shortcut for ``metadata.name``."""
        return self.metadata.name

    def topic_names(self, stack: str) -> TopicNames:
        """This model's topic names on ``stack``."""
        return topic_names(stack, self.metadata.name)
