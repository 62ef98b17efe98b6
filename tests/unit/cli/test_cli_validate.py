"""``maas validate``: exit codes, text and JSON output, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from maas_iac.cli import main as cli_main
from maas_iac.spec import messages as M

REPO = Path(__file__).resolve().parents[3]
GOOD = (REPO / "models" / "half-plus-two.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_defaults_to_models_and_stacks(capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = _run(capsys, "validate")
    assert code == 0
    assert out.strip() == "ok: 1 model spec, 4 stack configs valid"
    assert err == ""


def test_invalid_specs_exit_2_with_every_problem_and_its_fix(capsys, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("  replicas: 2", "  replcas: 2"))
    (tmp_path / "b.yaml").write_text(GOOD.replace("half-plus-two", "other").replace("ref: v1", "ref: a..b"))
    code, out, _ = _run(capsys, "validate", str(tmp_path))
    assert code == 2
    lines = out.splitlines()
    replicas = _line_of(GOOD, "  replicas: 2")
    ref = _line_of(GOOD, "  ref: v1")
    assert f"{tmp_path / 'a.yaml'}:{replicas}:3: $.serving.replcas: {M.UNKNOWN_KEY.format(key='replcas')}" in lines
    assert "    fix: " + M.DID_YOU_MEAN.format(suggestion="replicas") in lines
    assert any(line.startswith(f"{tmp_path / 'b.yaml'}:{ref}:8: $.source.ref: ") for line in lines)
    assert lines[-1] == "invalid: 2 problems in 2 files (2 model specs, 0 stack configs checked)"


def test_cross_file_problems(capsys, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: half-plus-two", "name: other"))
    code, out, _ = _run(capsys, "validate", str(tmp_path))
    assert code == 2
    rest = _line_of(GOOD, "    rest: 8501")
    assert out.splitlines()[0] == (
        f"{tmp_path / 'b.yaml'}:{rest}:11: $.serving.ports.rest: "
        + M.PORT_TAKEN.format(port=8501, owner="half-plus-two (rest)", where=f"{tmp_path / 'a.yaml'}:{rest}:11")
    )


def test_json_format(capsys, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("replicas: 2", "replicas: 0"))
    code, out, _ = _run(capsys, "validate", "--format", "json", str(tmp_path / "a.yaml"))
    assert code == 2
    report = json.loads(out)
    assert report["valid"] is False
    assert report["models"] == []
    assert report["problems"] == [
        {
            "file": str(tmp_path / "a.yaml"),
            "line": _line_of(GOOD, "  replicas: 2"),
            "col": 13,
            "jsonPath": "$.serving.replicas",
            "message": M.TOO_SMALL.format(value=0, limit=1),
            "fix": None,
        }
    ]


def test_json_format_valid(capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = _run(capsys, "validate", "--format=json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True and report["models"] == ["half-plus-two"]
    assert sorted(report["stacks"]) == ["k8s", "local", "prodlike", "staging"]


def test_missing_path_is_a_user_error(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "validate", str(tmp_path / "nope"))
    assert code == 2
    assert M.FILE_NOT_FOUND in out


def test_an_empty_directory_is_a_user_error(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "validate", str(tmp_path))
    assert code == 2
    assert M.NO_FILES_FOUND in out


def test_bad_arguments_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main(["validate", "--format", "xml"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli_main.main([])
    assert info.value.code == 2


def test_an_internal_error_prints_one_line_and_a_debug_hint(capsys, monkeypatch, tmp_path: Path) -> None:
    import maas_iac.spec.load as load

    def boom(paths):
        raise RuntimeError("unexpected\nsecond line")

    monkeypatch.setattr(load, "validate_paths", boom)
    code, out, err = _run(capsys, "validate", str(tmp_path))
    assert code == cli_main.EXIT_INTERNAL
    assert err.strip().count("\n") == 0
    assert "internal error (RuntimeError: unexpected)" in err and "--debug" in err
    assert "Traceback" not in err + out
    with pytest.raises(RuntimeError):
        cli_main.main(["validate", "--debug", str(tmp_path)])


def test_maas_errors_map_to_their_exit_codes(capsys, monkeypatch, tmp_path: Path) -> None:
    import maas_iac.spec.load as load
    from maas_iac.errors import InfrastructureError

    def unreachable(paths):
        raise InfrastructureError("Docker is not reachable at unix:///var/run/docker.sock")

    monkeypatch.setattr(load, "validate_paths", unreachable)
    code, _, err = _run(capsys, "validate")
    assert code == 3
    assert err.strip() == "maas validate failed: Docker is not reachable at unix:///var/run/docker.sock"


def test_every_command_module_has_the_dispatcher_interface() -> None:
    for name in cli_main.COMMANDS:
        module = cli_main._module(name)
        assert isinstance(module.HELP, str) and module.HELP
        assert callable(module.add_arguments) and callable(module.run)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00garbage", b"a: &x [*x]\n", b"[" * 10000, b"!!python/object/apply:os.system ['id']\n"],
    ids=["binary", "recursive-alias", "deep", "python-tag"],
)
def test_console_script_never_prints_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "maas_iac.cli.main", "validate", str(path)],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{path}:")
