"""Cross-spec checks: names, host ports, topics, stack overrides."""

from __future__ import annotations

from pathlib import Path

from maas_iac.spec import messages as M
from maas_iac.spec import validate_paths
from maas_iac.spec.naming import MAX_TOPIC_NAME_LENGTH, events_topic, topic_collision_key, topic_name_problem, topic_names


def _problems(*paths: Path) -> list[tuple[str, int | None, str, str]]:
    return [(Path(p.file).name if p.file else "", p.line, p.json_path, p.message) for p in validate_paths(paths).problems]


def test_duplicate_model_names_are_reported_on_the_later_file(write_spec, tmp_path: Path) -> None:
    write_spec("a.yaml", name="same", rest=8501, grpc=8500)
    write_spec("b.yaml", name="same", rest=8601, grpc=8600)
    assert _problems(tmp_path) == [
        ("b.yaml", 4, "$.metadata.name", M.DUPLICATE_NAME.format(name="same", where=f"{tmp_path / 'a.yaml'}:4:9")),
    ]


def test_host_port_collisions_across_models_rest_and_grpc(write_spec, tmp_path: Path) -> None:
    write_spec("a.yaml", name="a", rest=8501, grpc=8500)
    write_spec("b.yaml", name="b", rest=8500, grpc=8501)
    problems = _problems(tmp_path)
    assert problems == [
        ("b.yaml", 11, "$.serving.ports.rest",
         M.PORT_TAKEN.format(port=8500, owner="a (grpc)", where=f"{tmp_path / 'a.yaml'}:12:11")),
        ("b.yaml", 12, "$.serving.ports.grpc",
         M.PORT_TAKEN.format(port=8501, owner="a (rest)", where=f"{tmp_path / 'a.yaml'}:11:11")),
    ]


def test_rest_and_grpc_on_the_same_port_within_one_model(write_spec, tmp_path: Path) -> None:
    write_spec("a.yaml", name="a", rest=8501, grpc=8501)
    assert _problems(tmp_path) == [("a.yaml", 12, "$.serving.ports.grpc", M.PORTS_EQUAL.format(port=8501))]


def test_distinct_models_pass(write_spec, tmp_path: Path) -> None:
    write_spec("a.yaml", name="a", rest=8501, grpc=8500)
    write_spec("b.yaml", name="b", rest=8601, grpc=8600)
    result = validate_paths([tmp_path])
    assert result.ok and [s.name for s in result.specs] == ["a", "b"]


def test_stacks_whose_topics_collide_when_dot_equals_underscore(write_stack, write_spec, tmp_path: Path) -> None:
    write_spec("m.yaml", name="m")
    write_stack("a_b")
    write_stack("a.b")
    assert _problems(tmp_path) == [
        ("Pulumi.a_b.yaml", 1, "$",
         M.TOPIC_NAME_COLLISION.format(topic="a_b.model-events", other="a.b.model-events")),
    ]


def test_port_offset_pushing_a_port_out_of_range(write_stack, write_spec, tmp_path: Path) -> None:
    write_spec("m.yaml", name="m", rest=65000, grpc=8500)
    write_stack("local", "  maas:portOffset: 1000\n")
    assert _problems(tmp_path) == [
        ("m.yaml", 11, "$.serving.ports.rest", M.PORT_OUT_OF_RANGE.format(port=65000, offset=1000, stack="local")),
    ]


def test_replica_override_for_an_unknown_model_suggests_the_right_name(write_stack, write_spec, tmp_path: Path) -> None:
    write_spec("m.yaml", name="half-plus-two")
    write_stack("local", "  maas:replicas:\n    half-plus-tow: 3\n")
    problems = validate_paths([tmp_path]).problems
    assert [(p.line, p.json_path, p.message, p.fix) for p in problems] == [
        (7, "$.config['maas:replicas'].half-plus-tow", M.STACK_UNKNOWN_MODEL.format(name="half-plus-tow"),
         M.DID_YOU_MEAN.format(suggestion="half-plus-two")),
    ]


def test_replica_overrides_are_not_checked_without_any_model(write_stack, tmp_path: Path) -> None:
    write_stack("local", "  maas:replicas:\n    anything: 3\n")
    assert validate_paths([tmp_path]).ok


def test_labels_on_unserved_versions_are_deferred_for_latest_and_all(write_spec, tmp_path: Path) -> None:
    write_spec("m.yaml", source_extra="  versions: {policy: latest, count: 1}\n  labels: {stable: 42}\n")
    assert validate_paths([tmp_path]).ok


def test_topic_names() -> None:
    assert tuple(topic_names("local", "half-plus-two")) == (
        "local.half-plus-two.requests",
        "local.half-plus-two.predictions",
    )
    assert events_topic("prod") == "prod.model-events"
    assert topic_collision_key("a_b.c") == topic_collision_key("a.b_c")


def test_topic_name_legality() -> None:
    assert topic_name_problem("local.m.requests") is None
    assert topic_name_problem("a" * MAX_TOPIC_NAME_LENGTH) is None
    assert topic_name_problem("a" * (MAX_TOPIC_NAME_LENGTH + 1))
    assert topic_name_problem("a b")
    assert topic_name_problem("..")
    assert topic_name_problem("")
