"""The whole Pulumi program under mocks: specs from a models directory, real Git, no engine."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

LOCAL_CONFIG = {
    "maas:registry": "127.0.0.1:5000",
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": json.dumps({"bootstrapServers": "127.0.0.1:9092"}),
    "maas:bindAddress": "127.0.0.1",
    "maas:servingBaseImage": "127.0.0.1:5000/maas/serving:2.21.0",
    "maas:replicas": json.dumps({"b": 1}),
}

SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: {name}}}
source: {{repository: {repo}, ref: main, path: models/m}}
serving: {{replicas: 2, ports: {{rest: {rest}, grpc: {grpc}}}}}
topics: {{requests: {{partitions: 3}}, predictions: {{partitions: 3}}}}
"""


@pytest.fixture
def program_env(tmp_path: Path, monkeypatch, model_repo, program_inputs):
    program_inputs(SPEC, LOCAL_CONFIG, model_repo.path)
    monkeypatch.setattr("maas_iac.program.manifest_digest", lambda registry, repo, tag: None)
    models = tmp_path / "models"
    return models


def _run_program() -> None:
    from maas_iac.program import main

    @pulumi.runtime.test
    def run():
        main()
        return pulumi.Output.from_input(True)

    run()


def test_program_declares_network_events_topic_and_one_service_per_spec(program_env, mocks) -> None:
    _run_program()
    regs = mocks.by_name()
    assert regs["network"].inputs["name"] == "maas-local"
    assert regs["model-events"].inputs["name"] == "local.model-events"
    assert regs["model-events"].inputs["config"] == {"cleanup.policy": "compact"}
    assert {r.name for r in mocks.registrations if r.type_ == "maas:index:ModelService"} == {"a", "b"}
    # The stack's replica override applies to b only.
    assert len([r for r in mocks.registrations if r.name.startswith("a-replicas-")]) == 2
    assert len([r for r in mocks.registrations if r.name.startswith("b-replicas-")]) == 1
    image = regs["a-image-image"].inputs
    assert image["tag"].startswith("md-") and len(image["tag"]) == 15
    assert Path(image["context"], "Dockerfile").read_text().startswith("FROM 127.0.0.1:5000/maas/serving:2.21.0")
    replica = regs["a-replicas-0"].inputs
    assert replica["labels"]["maas.stack"] == "local" and replica["labels"]["maas.digest"]
    assert "--drain_seconds=5" in replica["command"]


def test_one_changed_byte_changes_only_that_models_tag(program_env, mocks, model_repo) -> None:
    _run_program()
    before = {r.name: r.inputs["tag"] for r in mocks.registrations if r.name.endswith("-image-image")}
    router_before = mocks.by_name()["b-router-haproxy"].inputs
    # Model b now points at a second repository path with one byte changed.
    model_repo.git("checkout", "-q", "-b", "retrained")
    model_repo.write_version(1, b"onE")
    model_repo.commit("retrain")
    spec = (program_env / "b.yaml").read_text().replace("ref: main", "ref: retrained")
    (program_env / "b.yaml").write_text(spec)
    mocks.registrations.clear()
    _run_program()
    after = {r.name: r.inputs["tag"] for r in mocks.registrations if r.name.endswith("-image-image")}
    assert after["a-image-image"] == before["a-image-image"]
    assert after["b-image-image"] != before["b-image-image"]
    # The router (fixed name and ports, replaced delete-first) must not change with the model.
    assert mocks.by_name()["b-router-haproxy"].inputs == router_before


def test_a_spec_mistake_is_one_clean_run_error_naming_file_and_field(program_env, mocks) -> None:
    (program_env / "a.yaml").write_text((program_env / "a.yaml").read_text().replace("replicas: 2", "replicas: -1"))
    with pytest.raises(pulumi.RunError) as err:
        _run_program()
    assert "a.yaml:" in str(err.value) and "$.serving.replicas" in str(err.value)
    assert not [r for r in mocks.registrations if r.type_ != "pulumi:pulumi:Stack"]  # nothing declared


def test_a_missing_ref_names_the_model(program_env, mocks) -> None:
    (program_env / "a.yaml").write_text((program_env / "a.yaml").read_text().replace("ref: main", "ref: nope"))
    with pytest.raises(pulumi.RunError, match="model a: ref 'nope' does not exist"):
        _run_program()


def test_the_base_image_is_pinned_by_digest_so_a_new_base_means_a_new_tag(program_env, mocks, monkeypatch) -> None:
    def registry(digest):
        return lambda reg, repo, tag: digest if repo == "maas/serving" else None

    monkeypatch.setattr("maas_iac.program.manifest_digest", registry("sha256:" + "1" * 64))
    _run_program()
    first = mocks.by_name()["a-image-image"].inputs
    assert Path(first["context"], "Dockerfile").read_text().startswith(f"FROM 127.0.0.1:5000/maas/serving@sha256:{'1' * 64}\n")
    mocks.registrations.clear()
    monkeypatch.setattr("maas_iac.program.manifest_digest", registry("sha256:" + "2" * 64))
    _run_program()
    assert mocks.by_name()["a-image-image"].inputs["tag"] != first["tag"]
