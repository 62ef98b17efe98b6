"""Property tests: whatever the input, the loader returns a spec or raises SpecError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maas_iac.errors import SpecError
from maas_iac.spec import ModelServiceSpec, parse_spec
from maas_iac.spec.reader import read_bytes
from maas_iac.spec.stack import check_stack_mapping

VALID = (Path(__file__).parent / "fixtures" / "valid" / "full.yaml").read_text(encoding="utf-8")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(text: str | bytes) -> None:
    try:
        spec = parse_spec(text, file="fuzz.yaml")
    except SpecError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "fuzz.yaml"
            assert problem.message
            assert problem.json_path.startswith("$")
    else:
        assert isinstance(spec, ModelServiceSpec)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    data = read_bytes(VALID, file="valid.yaml").data
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
    return json.dumps(data)  # JSON is YAML


@FUZZ
@given(mutated_specs())
def test_mutated_valid_specs_load_or_raise_spec_error(text: str) -> None:
    _load(text)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_spec_error(raw: bytes) -> None:
    _load(raw)


yaml_ish = st.text(
    alphabet=st.sampled_from(list("abc:-[]{},&*!|>'\"#%@`?\n  \t.01~\\") + ["\x00", "\ufeff", "é"]),
    max_size=300,
)


@FUZZ
@given(yaml_ish)
def test_random_yaml_like_text_raises_only_spec_error(text: str) -> None:
    _load(text)


@FUZZ
@given(st.data())
def test_byte_edits_of_a_valid_spec(data: st.DataObject) -> None:
    raw = bytearray(VALID.encode())
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(raw)))
        if data.draw(st.booleans()) and pos < len(raw):
            del raw[pos]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=3))
    _load(bytes(raw))


@FUZZ
@given(st.dictionaries(st.sampled_from(["registry", "dockerHost", "kafka", "portOffset", "protect", "replicas", "x"]),
                       json_values, max_size=6))
def test_stack_mappings_never_raise(mapping: dict[str, Any]) -> None:
    config, problems = check_stack_mapping(mapping, stack="fuzz")
    assert (config is None) == bool(problems)


def _agree(data: Any, name: str) -> None:
    from maas_iac.spec.schema import fast_check_for, validator_for

    assert fast_check_for(name)(data) == validator_for(name).is_valid(data)


@FUZZ
@given(mutated_specs())
def test_fast_check_agrees_with_jsonschema_on_specs(text: str) -> None:
    _agree(json.loads(text), "modelservice.schema.json")


@FUZZ
@given(st.dictionaries(st.sampled_from(["registry", "dockerHost", "kafka", "portOffset", "protect", "replicas",
                                        "bindAddress", "network"]), json_values, max_size=6))
def test_fast_check_agrees_with_jsonschema_on_stacks(mapping: dict[str, Any]) -> None:
    _agree(mapping, "stackconfig.schema.json")


def test_fast_check_agrees_on_every_fixture() -> None:
    fixtures = Path(__file__).parent / "fixtures"
    for path in sorted(fixtures.glob("*/*.yaml")):
        doc = read_bytes(path.read_bytes(), file=path.name)
        if doc.data is not None and not path.name.startswith("Pulumi."):
            _agree(doc.data, "modelservice.schema.json")
