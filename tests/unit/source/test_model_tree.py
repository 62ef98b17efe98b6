"""Served versions and the content digest, read from real commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.errors import SourceError
from maas_iac.source import GitMirror, read_model_tree
from maas_iac.spec.model import AllVersions, LatestVersions, SpecificVersions


def _tree(repo, tmp_path, ref="main", policy=None):
    rev = GitMirror(tmp_path / "cache").resolve(str(repo.path), ref)
    return read_model_tree(rev, "models/m", policy or LatestVersions(count=1))


def test_latest_serves_the_highest_versions(model_repo, tmp_path: Path) -> None:
    model_repo.write_version(2, b"two")
    model_repo.write_version(10, b"ten")
    model_repo.commit("more")
    tree = _tree(model_repo, tmp_path, policy=LatestVersions(count=2))
    assert tree.available == (1, 2, 10)
    assert tree.served == (2, 10)
    assert {f.version for f in tree.files} == {2, 10}
    assert [f.path for f in tree.files if f.version == 2] == ["saved_model.pb", "variables/variables.index"]


def test_specific_and_all_policies(model_repo, tmp_path: Path) -> None:
    model_repo.write_version(2, b"two")
    model_repo.commit("two")
    assert _tree(model_repo, tmp_path, policy=SpecificVersions(versions=(1,))).served == (1,)
    assert _tree(model_repo, tmp_path, policy=AllVersions()).served == (1, 2)
    with pytest.raises(SourceError, match="version\\(s\\) 7 not found"):
        _tree(model_repo, tmp_path, policy=SpecificVersions(versions=(1, 7)))


def test_digest_changes_with_one_byte_and_only_for_served_files(model_repo, tmp_path: Path) -> None:
    before = _tree(model_repo, tmp_path).digest()
    assert _tree(model_repo, tmp_path).digest() == before  # same inputs, same digest
    model_repo.write_version(1, b"onf")  # one byte differs
    model_repo.commit("retrain")
    after = _tree(model_repo, tmp_path).digest()
    assert after != before
    # A file outside the served versions changes nothing.
    (model_repo.path / "README.md").write_text("docs")
    model_repo.commit("docs")
    assert _tree(model_repo, tmp_path).digest() == after


def test_unserved_version_does_not_change_the_digest(model_repo, tmp_path: Path) -> None:
    model_repo.write_version(2, b"two")
    model_repo.commit("two")
    before = _tree(model_repo, tmp_path, policy=SpecificVersions(versions=(2,))).digest()
    model_repo.write_version(1, b"changed")
    model_repo.commit("touch v1")
    assert _tree(model_repo, tmp_path, policy=SpecificVersions(versions=(2,))).digest() == before


def test_missing_model_path_and_empty_base_are_clear_errors(model_repo, tmp_path: Path) -> None:
    rev = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    with pytest.raises(SourceError, match="does not exist"):
        read_model_tree(rev, "models/other", AllVersions())
    with pytest.raises(SourceError, match="no numeric version directory"):
        read_model_tree(rev, "models/m/1", AllVersions())
    with pytest.raises(SourceError, match="inside the repository"):
        read_model_tree(rev, "../etc", AllVersions())


def test_export_writes_the_served_files_with_fixed_mtimes(model_repo, tmp_path: Path) -> None:
    tree = _tree(model_repo, tmp_path)
    tree.export(tmp_path / "out", mtime=1000.0)
    pb = tmp_path / "out" / "1" / "saved_model.pb"
    assert pb.read_bytes() == b"pb:one"
    assert pb.stat().st_mtime == 1000.0
