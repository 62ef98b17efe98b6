"""The schemas themselves: valid 2020-12, documented, strict, and in step with the dataclasses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from maas_iac.spec import model
from maas_iac.spec.schema import MODELSERVICE_SCHEMA, STACKCONFIG_SCHEMA, did_you_mean, load_schema

SCHEMAS = [MODELSERVICE_SCHEMA, STACKCONFIG_SCHEMA]


def _fields(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema that describes a field: properties, additionalProperties and items."""
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        if isinstance(sub, dict):
            yield f"{path}.{name}", sub
            yield from _fields(sub, f"{path}.{name}")
    for key in ("additionalProperties", "items"):
        sub = node.get(key)
        if isinstance(sub, dict):
            yield f"{path}[{key}]", sub
            yield from _fields(sub, f"{path}[{key}]")
    for name, sub in node.get("$defs", {}).items():
        yield f"$defs.{name}", sub
        yield from _fields(sub, f"$defs.{name}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_json_schema_2020_12(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_field_has_a_description(name: str) -> None:
    schema = load_schema(name)
    assert schema.get("description")
    missing = [path for path, sub in _fields(schema) if not sub.get("description")]
    assert missing == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_object_rejects_unknown_keys(name: str) -> None:
    schema = load_schema(name)
    nodes = [("$", schema)] + list(_fields(schema))
    loose = [
        path
        for path, sub in nodes
        if (sub.get("type") == "object" or "properties" in sub) and "additionalProperties" not in sub
    ]
    assert loose == []


def _default_of(cls: type, attr: str) -> Any:
    f = {f.name: f for f in dataclasses.fields(cls)}[attr]
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("schema_path", "cls", "attr"),
    [
        ("properties.source.properties.path", model.Source, "path"),
        ("properties.serving.properties.baseImage", model.Serving, "base_image"),
        ("properties.serving.properties.replicas", model.Serving, "replicas"),
        ("properties.serving.properties.drainSeconds", model.Serving, "drain_seconds"),
        ("properties.serving.properties.batching.properties.enabled", model.Batching, "enabled"),
        ("properties.serving.properties.batching.properties.maxBatchSize", model.Batching, "max_batch_size"),
        ("properties.serving.properties.batching.properties.batchTimeoutMicros", model.Batching, "batch_timeout_micros"),
        ("properties.serving.properties.batching.properties.numBatchThreads", model.Batching, "num_batch_threads"),
        ("properties.serving.properties.batching.properties.maxEnqueuedBatches", model.Batching, "max_enqueued_batches"),
        ("properties.serving.properties.health.properties.intervalSeconds", model.Health, "interval_seconds"),
        ("properties.serving.properties.health.properties.timeoutSeconds", model.Health, "timeout_seconds"),
        ("properties.serving.properties.health.properties.startPeriodSeconds", model.Health, "start_period_seconds"),
        ("properties.serving.properties.health.properties.retries", model.Health, "retries"),
        ("$defs.topic.properties.partitions", model.TopicSpec, "partitions"),
        ("$defs.topic.properties.replicationFactor", model.TopicSpec, "replication_factor"),
        ("$defs.topic.properties.retentionMs", model.TopicSpec, "retention_ms"),
        ("$defs.topic.properties.cleanupPolicy", model.TopicSpec, "cleanup_policy"),
        ("properties.topics.properties.allowDestructiveChanges", model.Topics, "allow_destructive_changes"),
        ("properties.rollout.properties.strategy", model.Rollout, "strategy"),
        ("properties.rollout.properties.healthTimeoutSeconds", model.Rollout, "health_timeout_seconds"),
        ("properties.source.properties.versions.properties.count", model.LatestVersions, "count"),
    ],
)
def test_schema_defaults_match_the_dataclass_defaults(schema_path: str, cls: type, attr: str) -> None:
    node: Any = load_schema(MODELSERVICE_SCHEMA)
    for step in schema_path.split("."):
        node = node[step]
    assert node["default"] == _default_of(cls, attr)


def test_the_default_version_policy_is_latest_one() -> None:
    node = load_schema(MODELSERVICE_SCHEMA)["properties"]["source"]["properties"]["versions"]
    assert node["default"] == {"policy": "latest", "count": 1}
    assert _default_of(model.Source, "versions") == model.LatestVersions(count=1)


@pytest.mark.parametrize(
    ("word", "candidates", "expected"),
    [
        ("replcas", ["replicas", "ports"], "replicas"),
        ("max_batch_size", ["maxBatchSize", "enabled"], "maxBatchSize"),
        ("BaseImage", ["baseImage"], "baseImage"),
        ("zzz", ["replicas", "ports"], None),
    ],
)
def test_did_you_mean(word: str, candidates: list[str], expected: str | None) -> None:
    assert did_you_mean(word, candidates) == expected
