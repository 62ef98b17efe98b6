"""The program refuses a spec whose repository the stack's maas:allowedSources does not list,
before it declares any resource."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

CONFIG = {
    "maas:registry": "127.0.0.1:5000",
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": json.dumps({"bootstrapServers": "127.0.0.1:9092"}),
    "maas:allowedSources": json.dumps(["github.com/my-org/*"]),
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: m}}
source: {{repository: {repo}, ref: main, path: models/m}}
serving: {{replicas: 1, ports: {{rest: 8501, grpc: 8500}}}}
"""


def test_a_source_outside_the_list_stops_the_program_before_any_resource(tmp_path: Path, monkeypatch, mocks,
                                                                         model_repo) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.yaml").write_text(SPEC.format(repo=model_repo.path))
    monkeypatch.setenv("MAAS_MODELS_DIR", str(models))
    monkeypatch.setenv("MAAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(CONFIG))
    monkeypatch.setattr("maas_iac.program.manifest_digest", lambda registry, repo, tag: None)
    from maas_iac.program import main

    @pulumi.runtime.test
    def run():
        main()
        return pulumi.Output.from_input(True)

    with pytest.raises(Exception) as info:
        run()
    text = str(info.value)
    assert f"{models / 'm.yaml'}:4:" in text and "$.source.repository" in text
    assert "not among the sources stack" in text
    assert [r for r in mocks.registrations if r.type_ != "pulumi:pulumi:Stack"] == []
    assert not (tmp_path / "cache" / "git").exists()
