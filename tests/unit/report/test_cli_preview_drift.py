"""``maas preview`` and ``maas drift`` before the engine runs: user errors exit 2 with the
problems listed, and the commands are registered with their options."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _own_backend(tmp_path: Path, monkeypatch) -> None:
    # preview starts the engine while it validates: never on a real backend.
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    (tmp_path / "state").mkdir()


def _project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: maas-iac\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "stacks").mkdir()
    (tmp_path / "models" / "half-plus-two.yaml").write_text(spec)
    (tmp_path / "stacks" / "Pulumi.pvw.yaml").write_text((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    return tmp_path


@pytest.mark.parametrize("command", ["preview", "drift"])
def test_spec_errors_come_back_as_a_list(command: str, tmp_path: Path, capsys) -> None:
    spec = (REPO / "models" / "half-plus-two.yaml").read_text()
    bad = spec.replace("replicas: 2", "replicas: two").replace("drainSeconds: 5", "drainSecs: 5")
    project = _project(tmp_path, bad)
    assert main([command, "--stack", "pvw", "--cwd", str(project)]) == 2
    err = capsys.readouterr().err.splitlines()
    problems = [line for line in err if line.startswith(str(project))]
    assert len(problems) == 2, err
    assert any("$.serving.replicas" in p for p in problems) and any("drainSecs" in p for p in problems)


@pytest.mark.parametrize("command", ["preview", "drift"])
def test_missing_project_or_stack_file_is_a_user_error(command: str, tmp_path: Path, capsys) -> None:
    assert main([command, "--stack", "pvw", "--cwd", str(tmp_path)]) == 2
    assert "holds no Pulumi.yaml" in capsys.readouterr().err
    project = _project(tmp_path, (REPO / "models" / "half-plus-two.yaml").read_text())
    assert main([command, "--stack", "nope", "--cwd", str(project)]) == 2
    err = capsys.readouterr().err
    assert "no stack file" in err and "stacks: pvw" in err


def test_commands_are_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["preview", "--stack", "s", "--format", "markdown", "--exit-code"])
    assert (args.stack, args.format, args.exit_code) == ("s", "markdown", True)
    args = parser.parse_args(["drift", "-s", "s", "--format", "json", "--cwd", "/x"])
    assert (args.stack, args.format, args.cwd) == ("s", "json", "/x")
    with pytest.raises(SystemExit):
        parser.parse_args(["drift", "--stack", "s", "--format", "markdown"])
