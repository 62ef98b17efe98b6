"""Turn a schema-valid spec document into :class:`~maas_iac.spec.model.ModelServiceSpec`.

Only keys present in the document are passed on; absent ones take the dataclass defaults.
The input must have passed the schema: this module does no validation of its own.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maas_iac.spec.formats import memory_bytes
from maas_iac.spec.model import (
    AllVersions,
    Batching,
    Bridge,
    FrozenMap,
    Health,
    LatestVersions,
    Metadata,
    ModelServiceSpec,
    Ports,
    Resources,
    Rollout,
    Serving,
    Source,
    TopicAccess,
    SpecificVersions,
    TopicSpec,
    Topics,
    VersionPolicy,
)

__all__ = ["build_spec"]

_Data = Mapping[str, Any]


def _kw(data: _Data, mapping: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for the camelCase keys in ``mapping`` that ``data`` sets."""
    return {attr: data[key] for key, attr in mapping.items() if key in data}


def _versions(data: _Data) -> VersionPolicy:
    policy = data["policy"]
    if policy == "specific":
        return SpecificVersions(tuple(data["versions"]))
    if policy == "all":
        return AllVersions()
    return LatestVersions(**_kw(data, {"count": "count"}))


def _topic(data: _Data) -> TopicSpec:
    config = {
        k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in data.get("config", {}).items()
    }
    return TopicSpec(
        **_kw(
            data,
            {
                "partitions": "partitions",
                "replicationFactor": "replication_factor",
                "retentionMs": "retention_ms",
                "cleanupPolicy": "cleanup_policy",
            },
        ),
        config=FrozenMap(config),
    )


def _bridge(data: _Data, *, declares_topics: bool) -> Bridge:
    return Bridge(
        enabled=data.get("enabled", declares_topics),
        **_kw(data, {"consumers": "consumers", "maxBatchSize": "max_batch_size", "lingerMs": "linger_ms"}),
    )


def build_spec(data: _Data, source_file: Path | None = None) -> ModelServiceSpec:
    """The typed spec for a document that passed ``schemas/modelservice.schema.json``."""
    meta = data["metadata"]
    src = data["source"]
    srv = data["serving"]
    resources = srv.get("resources", {})
    memory = resources.get("memory")
    path = posixpath.normpath(src.get("path") or ".")  # the schema already ruled out '..'
    serving = Serving(
        ports=Ports(rest=srv["ports"]["rest"], grpc=srv["ports"]["grpc"]),
        **_kw(srv, {"baseImage": "base_image", "replicas": "replicas", "drainSeconds": "drain_seconds"}),
        batching=Batching(
            **_kw(
                srv.get("batching", {}),
                {
                    "enabled": "enabled",
                    "maxBatchSize": "max_batch_size",
                    "batchTimeoutMicros": "batch_timeout_micros",
                    "numBatchThreads": "num_batch_threads",
                    "maxEnqueuedBatches": "max_enqueued_batches",
                },
            )
        ),
        resources=Resources(
            cpus=None if resources.get("cpus") is None else float(resources["cpus"]),
            memory=None if memory is None else str(memory),
            memory_bytes=None if memory is None else memory_bytes(memory),
        ),
        health=Health(
            **_kw(
                srv.get("health", {}),
                {
                    "intervalSeconds": "interval_seconds",
                    "timeoutSeconds": "timeout_seconds",
                    "startPeriodSeconds": "start_period_seconds",
                    "retries": "retries",
                },
            )
        ),
        env=FrozenMap(srv.get("env", {})),
    )
    topics = data.get("topics", {})
    access = topics.get("access", {})
    rollout = data.get("rollout", {})
    return ModelServiceSpec(
        api_version=data["apiVersion"],
        kind=data["kind"],
        metadata=Metadata(
            name=meta["name"],
            description=meta.get("description"),
            owner=meta.get("owner"),
            labels=FrozenMap(meta.get("labels", {})),
        ),
        source=Source(
            repository=src["repository"],
            ref=src["ref"],
            path=path,
            versions=_versions(src.get("versions", {"policy": "latest"})),
            labels=FrozenMap(src.get("labels", {})),
        ),
        serving=serving,
        topics=Topics(
            requests=_topic(topics.get("requests", {})),
            predictions=_topic(topics.get("predictions", {})),
            access=TopicAccess(
                produce_requests=tuple(access.get("produceRequests", ())),
                read_predictions=tuple(access.get("readPredictions", ())),
                bridge=access.get("bridge"),
            ),
            errors=_topic(topics.get("errors", {})),
            **_kw(topics, {"allowDestructiveChanges": "allow_destructive_changes"}),
        ),
        bridge=_bridge(data.get("bridge", {}), declares_topics="topics" in data),
        rollout=Rollout(
            **_kw(rollout, {"strategy": "strategy", "healthTimeoutSeconds": "health_timeout_seconds"})
        ),
        source_file=source_file,
    )
