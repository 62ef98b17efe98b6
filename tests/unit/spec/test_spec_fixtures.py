"""Every fixture file: valid ones load without problems; each invalid one reports exactly the
problems its ``# expect: LINE:COL $.path: message`` header lines declare, nothing more."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maas_iac.spec import validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (.*)$", re.MULTILINE)


def _expectations(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")
    return _EXPECT.findall(text)


def _found(path: Path) -> list[str]:
    result = validate_paths([path])
    return [f"{p.line}:{p.col} {p.json_path}: {p.message}" for p in result.problems]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_has_no_problems(path: Path) -> None:
    result = validate_paths([path])
    assert [str(p) for p in result.problems] == []
    assert len(result.specs) + len(result.stacks) == 1


def test_valid_fixtures_together_pass_the_cross_file_checks() -> None:
    result = validate_paths([FIXTURES / "valid"])
    assert [str(p) for p in result.problems] == []
    assert len(result.specs) == len([p for p in VALID if not p.name.startswith("Pulumi.")])


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_reports_exactly_its_expected_problems(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} declares no '# expect:' lines"
    assert _found(path) == expected


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_every_problem_names_the_file_and_a_position(path: Path) -> None:
    for problem in validate_paths([path]).problems:
        assert problem.file == str(path)
        assert problem.line is not None and problem.col is not None
        assert problem.json_path.startswith("$")
