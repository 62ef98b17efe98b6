"""``maas promote``: argument errors, the source's facts read from its outputs and state, the
pin written whole into the target's config and removed again; the stacks are fakes of the
Automation API's, the registries stubs (the copy itself: tests/unit/clients)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi.automation import ConfigValue

from maas_iac import type_tokens as tokens
from maas_iac.cli.main import main
from maas_iac.clients.registry_copy import CopyResult
from maas_iac.spec import load_stack_config

REPO = Path(__file__).resolve().parents[3]
IMAGE = "sha256:" + "5e" * 32
OUTPUTS = {"half-plus-two": {"image": f"127.0.0.1:5000/maas/half-plus-two@{IMAGE}", "gitSha": "b" * 40,
                             "digest": "c" * 64, "versions": [1], "rest": "http://127.0.0.1:8501"},
           "eventsTopic": "local.model-events"}
STATE = {"resources": [{"type": tokens.REGISTRY_IMAGE,
                        "urn": "urn:pulumi:local::maas-iac::maas:index:ModelService$maas:index:ModelImage$"
                               f"{tokens.REGISTRY_IMAGE}::half-plus-two-image-image",
                        "outputs": {"tag": "md-0123456789ab", "repo_digest": OUTPUTS["half-plus-two"]["image"]}}]}


@dataclass
class FakeStack:
    """The part of ``pulumi.automation.Stack`` promote uses."""

    name: str
    outputs_: dict[str, Any] = field(default_factory=dict)
    config: dict[str, ConfigValue] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def outputs(self):
        return {k: SimpleNamespace(value=v) for k, v in self.outputs_.items()}

    def export_stack(self):
        return SimpleNamespace(deployment=STATE)

    def get_all_config(self):
        return dict(self.config)

    def set_all_config_json(self, text: str) -> None:
        self.calls.append(("set_all_config_json", json.loads(text)))
        for key, value in json.loads(text).items():
            self.config[key] = ConfigValue(value=value["value"])

    def remove_config(self, key: str, *, path: bool = False) -> None:
        self.calls.append(("remove_config", key))
        self.config.pop(key, None)


@pytest.fixture
def project(tmp_path: Path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: maas-iac\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    local = (REPO / "stacks" / "Pulumi.local.yaml").read_text()
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(local)
    (tmp_path / "stacks" / "Pulumi.prodlike.yaml").write_text(
        local.replace("127.0.0.1:5000", "127.0.0.2:5000").replace("maas-local", "maas-prodlike"))
    stacks = {"local": FakeStack("local", dict(OUTPUTS)), "prodlike": FakeStack("prodlike")}
    opened = {}

    def open_stack(project, name, env=None):
        opened[name] = env
        return stacks[name]

    monkeypatch.setattr("maas_iac.report.engine.open_stack", open_stack)
    registry = {"digests": {("maas/half-plus-two", IMAGE): IMAGE}, "copies": []}
    monkeypatch.setattr("maas_iac.clients.registry.manifest_digest",
                        lambda endpoint, repo, ref: registry["digests"].get((repo, ref)))

    def copy_image(src, dst, repository, digest, tag):
        registry["copies"].append((src.address, dst.address, repository, digest, tag))
        return CopyResult(digest=digest, copied=True, blobs_copied=2, bytes_copied=4096, blobs_present=3)

    monkeypatch.setattr("maas_iac.clients.registry_copy.copy_image", copy_image)
    return SimpleNamespace(path=tmp_path, stacks=stacks, registry=registry, opened=opened)


def _promote(project, *argv: str) -> int:
    return main(["promote", *argv, "--cwd", str(project.path)])


def test_promote_copies_by_digest_and_writes_the_whole_pin(project, capsys) -> None:
    assert _promote(project, "half-plus-two", "--from", "local", "--to", "prodlike") == 0
    assert project.registry["copies"] == [("127.0.0.1:5000", "127.0.0.2:5000", "maas/half-plus-two", IMAGE,
                                           "md-0123456789ab")]
    [(call, written)] = project.stacks["prodlike"].calls
    pin = {"fromStack": "local", "image": IMAGE, "tag": "md-0123456789ab", "gitSha": "b" * 40, "digest": "c" * 64,
           "versions": [1]}
    assert call == "set_all_config_json"
    assert written == {"maas:promoted": {"value": json.dumps({"half-plus-two": pin}),
                                         "objectValue": {"half-plus-two": pin}, "secret": False}}
    # What was written is a valid stack key, read back as the program reads it.
    config = load_stack_config({"registry": "r:5000", "dockerHost": "unix:///var/run/docker.sock",
                                "kafka": {"bootstrapServers": "k:9092"},
                                "promoted": written["maas:promoted"]["value"]}, stack="prodlike")
    assert config.promoted["half-plus-two"].image == IMAGE
    # The environment's passphrase is prodlike's; local keeps its own.
    assert project.opened == {"local": {"PULUMI_CONFIG_PASSPHRASE": "maas-local"}, "prodlike": None}
    out = capsys.readouterr().out
    assert f"promoted half-plus-two from local at {IMAGE}" in out
    assert "2 blobs, 4.0 KiB (3 already there)" in out and "next: pulumi up --stack prodlike" in out


def test_promoting_again_replaces_the_pin_and_keeps_the_others(project) -> None:
    other = {"fromStack": "local", "image": "sha256:" + "1" * 64, "tag": "t", "gitSha": "2" * 40, "digest": "3" * 64,
             "versions": [4, 5]}
    stale = {**other, "versions": [1, 2, 3]}
    project.stacks["prodlike"].config["maas:promoted"] = ConfigValue(
        value=json.dumps({"other": other, "half-plus-two": stale}))
    assert _promote(project, "half-plus-two", "--from", "local", "--to", "prodlike") == 0
    pins = json.loads(project.stacks["prodlike"].config["maas:promoted"].value)
    assert pins["other"] == other and pins["half-plus-two"]["versions"] == [1]


def test_unpin_removes_the_pin_and_the_key_with_the_last_one(project, capsys) -> None:
    assert _promote(project, "half-plus-two", "--from", "local", "--to", "prodlike") == 0
    assert _promote(project, "half-plus-two", "--unpin", "--to", "prodlike") == 0
    assert project.stacks["prodlike"].calls[-1] == ("remove_config", "maas:promoted")
    assert "unpinned half-plus-two on prodlike" in capsys.readouterr().out
    assert _promote(project, "half-plus-two", "--unpin", "--to", "prodlike") == 0
    assert "not pinned on prodlike: nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["half-plus-two", "--to", "prodlike"], "give --from SRC to promote, or --unpin"),
    (["half-plus-two", "--from", "local", "--unpin", "--to", "prodlike"], "give --from SRC to promote, or --unpin"),
    (["half-plus-two", "--from", "prodlike", "--to", "prodlike"], "both prodlike"),
    (["half-plus-two", "--from", "nope", "--to", "prodlike"], "no stack file"),
    (["half-plus-two", "--from", "local", "--to", "nope"], "no stack file"),
    (["iris", "--from", "local", "--to", "prodlike"], "stack local deploys no model 'iris' (models: half-plus-two)"),
])
def test_user_mistakes_exit_2_with_one_line(project, capsys, argv, message) -> None:
    assert _promote(project, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not project.stacks["prodlike"].calls and not project.registry["copies"]


def test_a_digest_gone_from_the_source_registry_is_a_user_error(project, capsys) -> None:
    project.registry["digests"].clear()
    assert _promote(project, "half-plus-two", "--from", "local", "--to", "prodlike") == 2
    err = capsys.readouterr().err
    assert f"no longer has maas/half-plus-two@{IMAGE}" in err and "pulumi up --stack local" in err
    assert not project.stacks["prodlike"].calls


def test_a_source_stack_never_deployed_is_a_user_error(project, capsys) -> None:
    from pulumi.automation import CommandError
    from pulumi.automation._cmd import CommandResult

    source = project.stacks["local"]
    source.workspace = SimpleNamespace(list_stacks=lambda: [SimpleNamespace(name="prodlike")], work_dir=str(project.path))

    def missing():
        raise CommandError(CommandResult(stdout="", stderr="error: no stack named 'local' found", code=255))

    source.outputs = missing
    assert _promote(project, "half-plus-two", "--from", "local", "--to", "prodlike") == 2
    assert "stack 'local' does not exist" in capsys.readouterr().err
