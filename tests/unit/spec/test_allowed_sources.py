"""``maas:allowedSources``: a stack deploys only from the repositories it lists, and a spec
outside the list is a validation error on the spec's ``$.source.repository``, reported by
``maas validate`` and by the Pulumi program's loading of its specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maas_iac.errors import SpecError
from maas_iac.spec import load_specs, load_stack_config, validate_paths
from maas_iac.spec import messages as M
from maas_iac.spec.stack import check_stack_mapping

REPO = Path(__file__).resolve().parents[3]

SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: {name}}}
source:
  repository: {repository}
  ref: main
serving:
  replicas: 1
  ports: {{rest: {rest}, grpc: {grpc}}}
"""

STACK = """\
config:
  maas:registry: 127.0.0.1:5000
  maas:dockerHost: unix:///var/run/docker.sock
  maas:kafka: {{bootstrapServers: "127.0.0.1:9092"}}
{allowed}"""


def _mapping(**extra) -> dict:
    return {"maas:registry": "127.0.0.1:5000", "maas:dockerHost": "unix:///var/run/docker.sock",
            "maas:kafka": json.dumps({"bootstrapServers": "127.0.0.1:9092"}), **extra}


@pytest.fixture
def files(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "ours.yaml").write_text(SPEC.format(name="ours", repository="https://github.com/my-org/models.git",
                                                  rest=8501, grpc=8500))
    (models / "theirs.yaml").write_text(SPEC.format(name="theirs", repository="https://evil.example/x/models.git",
                                                    rest=8601, grpc=8600))
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.prod.yaml").write_text(STACK.format(allowed="  maas:allowedSources: [github.com/my-org/*]\n"))
    return models, stacks


def test_a_spec_outside_the_list_is_an_error_on_its_repository_field(files) -> None:
    models, stacks = files
    result = validate_paths([models, stacks])
    [problem] = result.problems
    assert problem.file == str(models / "theirs.yaml")
    assert problem.json_path == "$.source.repository"
    assert (problem.line, problem.col) == (5, 15)
    assert problem.message == M.SOURCE_NOT_ALLOWED.format(stack="prod", allowed="github.com/my-org/*")
    assert str(stacks / "Pulumi.prod.yaml") in (problem.fix or "")


def test_maas_validate_reports_it(files, capsys) -> None:
    from maas_iac.cli import main as cli_main

    models, stacks = files
    assert cli_main.main(["validate", str(models), str(stacks)]) == 2
    out, err = capsys.readouterr()
    assert "theirs.yaml:5:15: $.source.repository:" in out + err
    assert "not among the sources stack 'prod' allows" in out + err


def test_the_program_refuses_it_with_the_stack_it_deploys(files) -> None:
    models, _ = files
    stack = load_stack_config(_mapping(**{"maas:allowedSources": json.dumps(["github.com/my-org/*"])}), stack="prod")
    assert stack.allowed_sources == ("github.com/my-org/*",)
    with pytest.raises(SpecError) as info:
        load_specs([models], stack=stack)
    [problem] = info.value.problems
    assert problem.file == str(models / "theirs.yaml") and problem.json_path == "$.source.repository"
    (models / "theirs.yaml").unlink()
    assert [s.name for s in load_specs([models], stack=stack)] == ["ours"]


def test_unset_means_local_sources_only(tmp_path: Path) -> None:
    stack = load_stack_config(_mapping(), stack="ci")
    assert stack.allowed_sources == ("local",)
    (tmp_path / "local.yaml").write_text(SPEC.format(name="local", repository="/srv/git/models", rest=1, grpc=2))
    assert load_specs([tmp_path], stack=stack)
    (tmp_path / "remote.yaml").write_text(SPEC.format(name="remote", repository="git@github.com:o/m.git",
                                                      rest=3, grpc=4))
    with pytest.raises(SpecError, match="remote.yaml.*source.repository"):
        load_specs([tmp_path], stack=stack)


def test_an_empty_list_allows_nothing(tmp_path: Path) -> None:
    stack = load_stack_config(_mapping(**{"maas:allowedSources": "[]"}), stack="ci")
    (tmp_path / "local.yaml").write_text(SPEC.format(name="local", repository="/srv/git/models", rest=1, grpc=2))
    with pytest.raises(SpecError, match=r"allows \(none\)"):
        load_specs([tmp_path], stack=stack)


@pytest.mark.parametrize("pattern", ["", "*", "local:relative/dir", "host/../x", "a b"])
def test_a_bad_pattern_is_a_stack_config_error(tmp_path: Path, pattern: str) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.x.yaml").write_text(STACK.format(allowed=f"  maas:allowedSources: [{json.dumps(pattern)}]\n"))
    [problem] = validate_paths([stacks]).problems
    assert problem.json_path == "$.config['maas:allowedSources'][0]"
    assert "allowed-source pattern" in problem.message
    _, problems = check_stack_mapping(_mapping(**{"maas:allowedSources": json.dumps([pattern])}), stack="x")
    assert problems


def test_the_shipped_stacks_list_their_sources() -> None:
    local = load_stack_config(REPO / "stacks" / "Pulumi.local.yaml")
    staging = load_stack_config(REPO / "stacks" / "Pulumi.staging.yaml")
    assert local.allowed_sources == ("local",)
    assert "local" not in staging.allowed_sources and "github.com/my-org/*" in staging.allowed_sources
    # the example model deploys on both
    assert validate_paths([REPO / "models", REPO / "stacks"]).ok
