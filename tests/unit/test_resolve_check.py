"""The SavedModel check of a build context: a corrupt version fails resolution with one line
naming the model and the version; a version that loaded once is not loaded again."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from maas_iac.errors import SourceError
from maas_iac.load_sandbox import SandboxResult
from maas_iac.resolve import Resolver, check_loadable
from maas_iac.spec import load_stack_config
from maas_iac.spec.model import (
    AllVersions, LatestVersions, Metadata, ModelServiceSpec, Ports, Serving, Source, VersionPolicy,
)


STACK = load_stack_config({"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
                           "kafka": {"bootstrapServers": "127.0.0.1:9092"}}, stack="unit")


def _spec(repo: Path, versions: VersionPolicy, base_image: str = "serving:1", ref: str = "main"):
    return ModelServiceSpec(
        metadata=Metadata(name="m"),
        source=Source(repository=str(repo), ref=ref, path="models/m", versions=versions),
        serving=Serving(ports=Ports(rest=8501, grpc=8500), base_image=base_image))


def host_runner(name: str, versions: dict[int, Path], timeout_s: float) -> SandboxResult:
    """The load check on this host, for models these tests make themselves (the program runs
    it sandboxed: tests/integration/test_load_sandbox.py)."""
    done = subprocess.run([sys.executable, "-m", "maas_dataplane.load_check", name,
                           *[f"{v}:{p}" for v, p in versions.items()]],
                          capture_output=True, text=True, timeout=timeout_s, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    return SandboxResult(done.returncode, done.stdout, done.stderr)


check = functools.partial(check_loadable, run=host_runner)


def _resolve(resolver: Resolver, repo: Path, ref: str = "main"):
    return resolver.resolve(_spec(repo, AllVersions(), ref=ref), STACK)


def test_corrupt_version_fails_before_a_context_is_kept(model_repo, tmp_path: Path) -> None:
    resolver = Resolver(tmp_path / "cache", check=check)
    with pytest.raises(SourceError) as failed:
        _resolve(resolver, model_repo.path)
    message = str(failed.value)
    assert message.startswith("model m: version 1 at main (")
    assert "is not a loadable SavedModel" in message and "\n" not in message
    assert not list((tmp_path / "cache" / "contexts" / "m").iterdir())


def test_loadable_versions_are_loaded_once(model_repo, tmp_path: Path, monkeypatch) -> None:
    from maas_iac.examples.half_plus_two import export

    export(model_repo.path / "models" / "m", 2)
    model_repo.commit("version 2")
    resolver = Resolver(tmp_path / "cache", check=check)
    # Version 1 is the fixture's corrupt one; serve only version 2.
    ok = resolver.resolve(_spec(model_repo.path, LatestVersions(count=1)), STACK)
    assert (ok.context / "Dockerfile").is_file()
    assert len(list((tmp_path / "cache" / "loadable").iterdir())) == 1

    calls = []
    again = Resolver(tmp_path / "cache", check=functools.partial(check_loadable, run=lambda *a: calls.append(a)))
    # Another base image: a new context for the same version, which is not loaded again.
    again.resolve(_spec(model_repo.path, LatestVersions(count=1), base_image="serving:2"), STACK)
    assert calls == []
