"""The YAML reader: safe subset, YAML 1.2 scalars, positions, and limits that never hang."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from maas_iac.spec import messages as M
from maas_iac.spec.reader import MAX_DEPTH, MAX_FILE_BYTES, read_bytes, read_file


def _messages(doc) -> list[str]:
    return [p.message for p in doc.problems]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: yes", "yes"),
        ("v: on", "on"),
        ("v: true", True),
        ("v: False", False),
        ("v: ~", None),
        ("v:", None),
        ("v: 0o17", 15),
        ("v: 0x1F", 31),
        ("v: 017", 17),
        ("v: 1_000", "1_000"),
        ("v: 1.5", 1.5),
        ("v: 1e3", 1000.0),
        ("v: '12'", "12"),
        ("v: !!str 12", "12"),
        ("v: !!int '12'", 12),
        ("v: 2024-01-01", "2024-01-01"),
        ("v: |\n  text\n", "text\n"),
    ],
)
def test_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    doc = read_bytes(text.encode(), file="f.yaml")
    assert doc.problems == []
    assert doc.data == {"v": value}
    assert type(doc.data["v"]) is type(value)


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = read_bytes(b"a:\n  b: [1, {c: 2}]\n", file="f.yaml")
    assert doc.keys[("a",)] == (1, 1)
    assert doc.keys[("a", "b")] == (2, 3)
    assert doc.values[("a", "b")] == (2, 6)
    assert doc.values[("a", "b", 1, "c")] == (2, 14)


def test_keys_are_always_strings() -> None:
    doc = read_bytes(b"1: a\ntrue: b\nnull: c\n", file="f.yaml")
    assert doc.data == {"1": "a", "true": "b", "null": "c"}


def test_duplicate_keys_are_all_reported_and_the_first_value_kept() -> None:
    doc = read_bytes(b"a: 1\nb: 2\na: 3\nb: {x: 1}\n", file="f.yaml")
    assert _messages(doc) == [M.DUPLICATE_KEY.format(key="a", line=1), M.DUPLICATE_KEY.format(key="b", line=2)]
    assert doc.data == {"a": 1, "b": 2}


def test_an_alias_bomb_is_refused_at_the_first_anchor_without_expanding() -> None:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    start = time.monotonic()
    doc = read_bytes("\n".join(lines).encode(), file="bomb.yaml")
    assert time.monotonic() - start < 1
    assert doc.data is None
    assert _messages(doc) == [M.ANCHOR_NOT_ALLOWED.format(name="l0")]


def test_an_alias_to_an_undefined_anchor_is_a_problem_not_an_exception() -> None:
    doc = read_bytes(b"a: *nowhere\n", file="f.yaml")
    assert doc.data is None and len(doc.problems) == 1


@pytest.mark.parametrize("text", ["[" * 100_000, "- " * 100_000 + "x", "{a: " * 50_000])
def test_deep_nesting_is_refused_quickly(text: str) -> None:
    start = time.monotonic()
    doc = read_bytes(text.encode(), file="deep.yaml")
    assert time.monotonic() - start < 2
    assert doc.data is None
    assert len(doc.problems) == 1


def test_nesting_up_to_the_limit_is_fine() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert read_bytes(text.encode(), file="f.yaml").problems == []


def test_files_above_the_size_limit_are_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    doc = read_file(path)
    assert _messages(doc) == [M.FILE_TOO_LARGE.format(limit_kib=MAX_FILE_BYTES // 1024)]


def test_non_utf8_bytes_are_located() -> None:
    doc = read_bytes(b"a: 1\nb: \xff\n", file="f.yaml")
    assert [(p.line, p.col, p.message) for p in doc.problems] == [(2, 4, M.NOT_UTF8.format(byte=0xFF))]


def test_utf8_bom_is_accepted() -> None:
    assert read_bytes("\ufeffa: 1\n".encode(), file="f.yaml").data == {"a": 1}


def test_control_characters_are_a_syntax_problem() -> None:
    doc = read_bytes(b"a: \x00\n", file="f.yaml")
    assert doc.data is None and doc.problems[0].message.startswith("invalid YAML")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert _messages(read_file(fifo)) == [M.NOT_A_REGULAR_FILE]


def test_a_directory_or_missing_file_is_a_problem(tmp_path: Path) -> None:
    assert _messages(read_file(tmp_path / "missing.yaml")) == [M.FILE_NOT_FOUND]
    assert _messages(read_file(tmp_path)) == [M.NOT_A_REGULAR_FILE]


@pytest.mark.parametrize("text", ["a: !!binary aGVsbG8=", "a: !!set {x}", "a: !custom 1", "!!omap [a: 1]"])
def test_tags_outside_the_core_schema_are_refused(text: str) -> None:
    doc = read_bytes(text.encode(), file="f.yaml")
    assert doc.problems and doc.problems[0].message.startswith("YAML tag")


def test_complex_keys_are_refused() -> None:
    assert _messages(read_bytes(b"? [a, b]\n: 1\n", file="f.yaml")) == [M.COMPLEX_KEY]


def test_non_finite_numbers_are_refused() -> None:
    doc = read_bytes(b"a: .nan\nb: 1e999\n", file="f.yaml")
    assert _messages(doc) == [M.NON_FINITE_NUMBER.format(value=".nan"), M.NON_FINITE_NUMBER.format(value="1e999")]


def test_huge_integers_stay_strings_instead_of_raising() -> None:
    doc = read_bytes(("a: " + "9" * 10_000).encode(), file="f.yaml")
    assert doc.problems == [] and isinstance(doc.data["a"], str)
