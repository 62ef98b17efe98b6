"""The spec's bridge section and errors topic: defaults, the topics rule, the consumers check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from maas_iac.spec import model, validate_paths
from maas_iac.spec.build import build_spec
from maas_iac.spec.naming import topic_names
from maas_iac.spec.schema import MODELSERVICE_SCHEMA, load_schema

BASE = {
    "apiVersion": "maas-iac/v1", "kind": "ModelService", "metadata": {"name": "m"},
    "source": {"repository": "/srv/git/m", "ref": "main"}, "serving": {"ports": {"rest": 1, "grpc": 2}},
}


@pytest.mark.parametrize(("key", "attr"), [("consumers", "consumers"), ("maxBatchSize", "max_batch_size"),
                                           ("lingerMs", "linger_ms")])
def test_schema_defaults_match_the_bridge_dataclass(key: str, attr: str) -> None:
    node = load_schema(MODELSERVICE_SCHEMA)["properties"]["bridge"]["properties"][key]
    assert node["default"] == {f.name: f.default for f in dataclasses.fields(model.Bridge)}[attr]


def test_the_bridge_is_on_when_topics_are_declared_and_off_otherwise() -> None:
    assert build_spec(BASE).bridge.enabled is False
    assert build_spec({**BASE, "topics": {}}).bridge.enabled is True
    assert build_spec({**BASE, "topics": {}, "bridge": {"enabled": False}}).bridge.enabled is False
    assert build_spec({**BASE, "bridge": {"enabled": True}}).bridge.enabled is True


def test_bridge_settings_and_the_errors_topic_are_read() -> None:
    spec = build_spec({**BASE, "topics": {"errors": {"partitions": 2, "retentionMs": 1000}},
                       "bridge": {"consumers": 1, "maxBatchSize": 8, "lingerMs": 0}})
    assert spec.bridge == model.Bridge(enabled=True, consumers=1, max_batch_size=8, linger_ms=0)
    assert spec.topics.errors.partitions == 2
    assert spec.topics.errors.kafka_config()["retention.ms"] == "1000"


def test_the_errors_topic_name_is_derived() -> None:
    names = topic_names("local", "half-plus-two")
    assert names.errors == "local.half-plus-two.errors"
    assert tuple(names) == ("local.half-plus-two.requests", "local.half-plus-two.predictions")


def test_a_disabled_bridge_may_name_more_consumers_than_partitions(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "apiVersion: maas-iac/v1\nkind: ModelService\nmetadata: {name: m}\n"
        "source: {repository: /srv/git/m, ref: main}\nserving: {ports: {rest: 1, grpc: 2}}\n"
        "topics: {requests: {partitions: 1}}\nbridge: {enabled: false, consumers: 4}\n")
    assert not validate_paths([path]).problems
    path.write_text(path.read_text().replace("enabled: false", "enabled: true"))
    (problem,) = validate_paths([path]).problems
    assert problem.json_path == "$.bridge.consumers" and "raise topics.requests.partitions to 4" in (problem.fix or "")
