"""The public API: complete ``__all__``, frozen objects, errors, and the shipped files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import maas_iac.errors as errors
import maas_iac.spec as spec_api
from maas_iac.errors import MaasError, SpecError, SpecProblem
from maas_iac.spec import (
    FrozenMap,
    LatestVersions,
    ModelServiceSpec,
    SpecificVersions,
    load_spec,
    load_specs,
    parse_spec,
    validate_paths,
)

REPO = Path(__file__).resolve().parents[3]


def test_all_is_complete_and_sorted_by_kind() -> None:
    public = {name for name in dir(spec_api) if not name.startswith("_")}
    modules = {"build", "checks", "fastcheck", "formats", "jsonpath", "load", "messages", "model", "naming", "reader", "schema", "stack"}
    assert set(spec_api.__all__) == public - modules
    for name in spec_api.__all__:
        assert getattr(spec_api, name) is not None


def test_errors_all_is_complete() -> None:
    public = {n for n in dir(errors) if not n.startswith("_") and isinstance(getattr(errors, n), type)}
    public -= {"Iterable"}
    assert set(errors.__all__) == {n for n in public if getattr(errors, n).__module__ == "maas_iac.errors"}


def test_every_error_has_a_docstring_saying_when_it_is_raised() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert cls.__doc__ and len(cls.__doc__) > 20
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert issubclass(cls, MaasError)


def test_shipped_models_and_stacks_are_valid() -> None:
    result = validate_paths([REPO / "models", REPO / "stacks"])
    assert [str(p) for p in result.problems] == []
    (spec,) = result.specs
    assert spec.name == "half-plus-two"
    assert spec.serving.replicas == 2
    assert (spec.serving.ports.rest, spec.serving.ports.grpc) == (8501, 8500)
    assert spec.topics.requests.partitions == spec.topics.predictions.partitions == 3
    assert spec.source_file == REPO / "models" / "half-plus-two.yaml"
    assert {s.stack for s in result.stacks} == {"k8s", "local", "prodlike", "staging"}


def test_specs_are_frozen_and_hashable(spec_text) -> None:
    spec = parse_spec(spec_text())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.serving.replicas = 3  # type: ignore[misc]
    assert hash(spec) == hash(parse_spec(spec_text()))
    assert spec == parse_spec(spec_text())
    assert isinstance(spec.serving.env, FrozenMap)
    with pytest.raises(TypeError):
        spec.serving.env["X"] = "1"  # type: ignore[index]


def test_defaults_fill_what_the_spec_leaves_out(spec_text) -> None:
    spec = parse_spec(spec_text())
    assert spec.source.path == "."
    assert spec.source.versions == LatestVersions(count=1)
    assert spec.serving.base_image is None
    assert spec.serving.batching.enabled is False
    assert spec.serving.resources.memory_bytes is None
    assert spec.topics.requests.kafka_config() == {"retention.ms": "604800000", "cleanup.policy": "delete"}
    assert spec.rollout.strategy == "create-before-delete"
    assert spec.source_file is None


def test_version_policies_are_classes_to_match_on(spec_text) -> None:
    spec = parse_spec(spec_text(source_extra="  versions: {policy: specific, versions: [3, 1]}\n  labels: {stable: 1}\n"))
    match spec.source.versions:
        case SpecificVersions(versions=versions):
            assert versions == (3, 1)
        case _:
            pytest.fail("expected SpecificVersions")
    assert spec.source.labels == {"stable": 1}


def test_topic_config_values_become_strings(spec_text) -> None:
    text = spec_text() + "topics:\n  requests:\n    config: {max.message.bytes: 1024, x.enable: true}\n"
    assert dict(parse_spec(text).topics.requests.config) == {"max.message.bytes": "1024", "x.enable": "true"}


def test_load_specs_raises_every_problem_at_once(tmp_path: Path, spec_text) -> None:
    (tmp_path / "a.yaml").write_text(spec_text(name="A"))
    (tmp_path / "b.yaml").write_text(spec_text(name="b").replace("ref: v1", "ref: a..b"))
    with pytest.raises(SpecError) as info:
        load_specs([tmp_path])
    assert [(Path(p.file).name, p.json_path) for p in info.value.problems] == [
        ("a.yaml", "$.metadata.name"),
        ("b.yaml", "$.source.ref"),
    ]
    assert "a.yaml:4:9: $.metadata.name:" in str(info.value)
    assert "(and 1 more problem)" in str(info.value)
    assert "    fix: " in info.value.render()


def test_load_spec_keeps_the_source_file(tmp_path: Path, spec_text) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(spec_text())
    spec = load_spec(path)
    assert isinstance(spec, ModelServiceSpec) and spec.source_file == path


def test_spec_problem_formats() -> None:
    problem = SpecProblem("m.yaml", 3, 5, "$.serving.replicas", "bad", "fix it")
    assert str(problem) == "m.yaml:3:5: $.serving.replicas: bad"
    assert problem.to_dict() == {
        "file": "m.yaml", "line": 3, "col": 5, "jsonPath": "$.serving.replicas", "message": "bad", "fix": "fix it",
    }
    assert str(SpecProblem("m.yaml", None, None, "$", "gone")) == "m.yaml: $: gone"


def test_spec_error_needs_problems() -> None:
    with pytest.raises(ValueError):
        SpecError([])


def test_exit_codes() -> None:
    assert SpecError.exit_code == 2
    assert errors.SourceError.exit_code == 2
    assert errors.InfrastructureError.exit_code == 3
