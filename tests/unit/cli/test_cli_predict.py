"""``maas predict``: arguments and user errors, before anything is contacted."""

from __future__ import annotations

import json

import pytest

from maas_iac.cli.main import main


@pytest.fixture
def outputs(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"hpt": {"rest": "http://127.0.0.1:1/v1/models/hpt", "grpc": "127.0.0.1:1",
                                        "topics": {"requests": "s.hpt.requests", "predictions": "s.hpt.predictions"}},
                                "eventsTopic": "s.model-events"}))
    return str(path)


@pytest.mark.parametrize(("argv", "message"), [
    (["nope", '{"instances": [[1.0]]}'], "has no model 'nope' (models: hpt)"),
    (["hpt", "{not json"], "the request is not JSON"),
    (["hpt", "[1, 2]"], 'with "instances" or "inputs"'),
    (["hpt", '{"instances": [[1.0]]}', "--version", "1", "--label", "stable"], "--version or --label, not both"),
    (["hpt", "@/nonexistent/request.json"], "cannot read the request"),
])
def test_user_mistakes_exit_2_with_one_line(outputs, capsys, argv, message):
    assert main(["predict", *argv, "--stack", "s", "--outputs", outputs]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unreachable_router_exits_3(outputs, capsys):
    assert main(["predict", "hpt", '{"instances": [[1.0]]}', "--stack", "s", "--outputs", outputs, "--timeout", "2"]) == 3
    assert "unreachable" in capsys.readouterr().err
