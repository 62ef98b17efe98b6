"""A promoted model (``maas:promoted``) under mocks: the whole program, real Git, no engine.

The pinned model registers the same image resource with the pinned digest (so nothing is
built), its replicas run that digest, its labels and event carry the pin's commit and content
digest, and a new commit on its ref changes none of it."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from maas_iac import type_tokens as tokens

IMAGE = "sha256:" + "5e" * 32
PIN = {"fromStack": "local", "image": IMAGE, "tag": "md-0123456789ab", "gitSha": "b" * 40, "digest": "c" * 64,
       "versions": [1]}
CONFIG = {
    "maas:registry": "10.213.0.1:5443",
    "maas:dockerHost": "unix:///var/run/docker.sock",
    "maas:kafka": json.dumps({"bootstrapServers": "127.0.0.1:9092"}),
    "maas:servingBaseImage": "10.213.0.1:5443/maas/serving:2.21.0",
    "maas:promoted": json.dumps({"a": PIN}),
}
SPEC = """apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: {name}}}
source: {{repository: {repo}, ref: main, path: models/m}}
serving: {{replicas: 2, ports: {{rest: {rest}, grpc: {grpc}}}}}
"""
LABELS = {"org.opencontainers.image.source": "/src", "org.opencontainers.image.revision": PIN["gitSha"],
          "org.opencontainers.image.title": "a", "io.maas-iac.model-digest": PIN["digest"],
          "io.maas-iac.model-versions": "1", "maintainer": "base image"}
CMD = ["--model_config_file=/models/models.config", "--enable_batching=true",
       "--batching_parameters_file=/models/batching.config"]


@pytest.fixture
def pinned_env(tmp_path: Path, monkeypatch, model_repo, program_inputs):
    program_inputs(SPEC, CONFIG, model_repo.path)
    tags = {("maas/a", PIN["tag"]): IMAGE}
    monkeypatch.setattr("maas_iac.program.manifest_digest", lambda registry, repo, tag: tags.get((repo, tag)))
    monkeypatch.setattr("maas_iac.program.guard_topics", lambda *args: frozenset())
    asked: list[tuple[str, str]] = []

    def image_config(endpoint, repository, digest):
        asked.append((repository, digest))
        return {"Labels": LABELS, "Cmd": CMD}

    monkeypatch.setattr("maas_iac.program.image_config", image_config)
    return tags, asked


def _run_program(install_mocks):
    from maas_iac.program import main

    mocks = install_mocks("prodlike", preview=False)

    @pulumi.runtime.test
    def run():
        main()
        return pulumi.Output.from_input(True)

    run()
    return mocks


def _model(regs, model: str) -> dict[str, dict]:
    """The model's image, replica and event inputs by role."""
    by = {r.name: r for r in regs}
    return {"image": by[f"{model}-image-image"].inputs, "replica": by[f"{model}-replicas-0"].inputs,
            "event": by[f"{model}-deployed"].inputs}


def test_a_pinned_model_registers_no_build_and_runs_the_pinned_digest(pinned_env, install_mocks) -> None:
    _, asked = pinned_env
    mocks = _run_program(install_mocks)
    a, b = _model(mocks.registrations, "a"), _model(mocks.registrations, "b")
    assert a["image"]["pinned_digest"] == IMAGE and a["image"]["promoted_from"] == "local"
    assert (a["image"]["tag"], a["image"]["context"]) == (PIN["tag"], "")
    assert a["image"]["labels"] == {k: v for k, v in LABELS.items() if k != "maintainer"}
    assert a["replica"]["image"] == f"10.213.0.1:5443/maas/a@{IMAGE}"
    assert a["replica"]["command"][:3] == CMD  # the image's own serving config
    assert a["replica"]["labels"]["maas.digest"] == PIN["digest"]
    assert (a["event"]["git_sha"], a["event"]["digest"], a["event"]["versions"]) == (PIN["gitSha"], PIN["digest"], [1])
    assert asked == [("maas/a", IMAGE)]
    # The other model builds as before.
    assert b["image"].get("pinned_digest") is None and Path(b["image"]["context"], "Dockerfile").is_file()
    [image_type] = {r.type_ for r in mocks.registrations if r.name == "a-image-image"}
    assert image_type == tokens.REGISTRY_IMAGE


def test_a_new_commit_on_the_ref_moves_only_the_unpinned_model(pinned_env, install_mocks, model_repo) -> None:
    before = _run_program(install_mocks)
    model_repo.write_version(2, b"two")
    model_repo.commit("second version")
    after = _run_program(install_mocks)
    old, new = _model(before.registrations, "a"), _model(after.registrations, "a")
    assert old == new
    assert _model(before.registrations, "b")["image"]["tag"] != _model(after.registrations, "b")["image"]["tag"]


def test_a_registry_without_the_pinned_digest_stops_the_program(pinned_env, install_mocks) -> None:
    tags, _ = pinned_env
    tags[("maas/a", PIN["tag"])] = "sha256:" + "0" * 64
    with pytest.raises(Exception, match="promote it again: maas promote a --from local --to prodlike"):
        _run_program(install_mocks)


def test_an_image_that_is_not_the_pinned_one_is_refused(pinned_env, install_mocks, monkeypatch) -> None:
    monkeypatch.setattr("maas_iac.program.image_config", lambda *a: {"Labels": {**LABELS, "io.maas-iac.model-digest": "d" * 64},
                                                                     "Cmd": CMD})
    with pytest.raises(Exception, match="is not the one maas:promoted describes"):
        _run_program(install_mocks)
