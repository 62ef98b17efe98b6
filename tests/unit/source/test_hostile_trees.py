"""Model repositories built to attack the exporter: tree entries named '..', '/abs' or '.git'
(and the spellings file systems fold to '.git'), links out of the model directory, and
submodules. Each is made with Git plumbing in a source repository whose fsck is off, then
refused: by the mirror's fsck at fetch time where Git knows the attack, and by the tree check
(naming the path and the commit) where it does not, or when a mirror predates fsck."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from maas_iac.errors import SourceError
from maas_iac.source import GitMirror, Revision, read_model_tree
from maas_iac.source.model_tree import _is_dot_git
from maas_iac.spec.model import AllVersions, LatestVersions


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, check=True, capture_output=True).stdout.decode().strip()


class Plumbing:
    """Objects written straight into a source repository, past every check Git would make."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        _git(path, "init", "-q", "-b", "main")
        for key in ("transfer.fsckObjects", "receive.fsckObjects", "fetch.fsckObjects"):
            _git(path, "config", key, "false")
        _git(path, "config", "user.email", "ml@example.com")
        _git(path, "config", "user.name", "ML Engineer")

    def blob(self, data: bytes) -> str:
        return _git(self.path, "hash-object", "-w", "--stdin", stdin=data)

    def tree(self, entries: list[tuple[str, str, str]]) -> str:
        """A tree object of ``(mode, name, sha)`` entries, written raw (any name goes)."""
        body = b""
        for mode, name, sha in sorted(entries, key=lambda e: e[1].encode()):
            body += f"{mode} ".encode() + name.encode() + b"\0" + bytes.fromhex(sha)
        return _git(self.path, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", stdin=body)

    def model_commit(self, branch: str, version_entries: list[tuple[str, str, str]]) -> str:
        """A commit whose ``models/m/1`` holds a good SavedModel-shaped file plus ``version_entries``."""
        pb = ("100644", "saved_model.pb", self.blob(b"pb:one"))
        v1 = self.tree([pb, *version_entries])
        m = self.tree([("40000", "1", v1)])
        models = self.tree([("40000", "m", m)])
        root = self.tree([("40000", "models", models)])
        sha = _git(self.path, "commit-tree", root, "-m", f"hostile: {branch}")
        _git(self.path, "update-ref", f"refs/heads/{branch}", sha)
        return sha


def _direct(src: Plumbing, ref: str, sha: str) -> Revision:
    """The source repository itself as the mirror: the tree check alone, without fsck."""
    return Revision(repository=str(src.path), ref=ref, sha=sha, subject="", mirror=src.path / ".git")


@pytest.fixture
def src(tmp_path: Path) -> Plumbing:
    return Plumbing(tmp_path / "src")


def test_mirrors_are_made_with_fsck_on(model_repo, tmp_path: Path) -> None:
    rev = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    for key in ("transfer.fsckObjects", "fetch.fsckObjects"):
        assert _git(rev.mirror, "config", "--get", key) == "true"


def test_an_old_mirror_without_fsck_gets_it(model_repo, tmp_path: Path) -> None:
    rev = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    _git(rev.mirror, "config", "--unset", "fetch.fsckObjects")
    GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    assert _git(rev.mirror, "config", "--get", "fetch.fsckObjects") == "true"


def test_dotdot_entry_is_refused_by_fsck_and_by_the_tree_check(src: Plumbing, tmp_path: Path) -> None:
    evil = src.blob(b"overwrites a file next to the build context")
    sha = src.model_commit("main", [("100644", "..", evil)])
    with pytest.raises(SourceError, match="integrity check refuses.*hasDotdot"):
        GitMirror(tmp_path / "cache").resolve(str(src.path), "main")
    with pytest.raises(SourceError) as info:
        read_model_tree(_direct(src, "main", sha), "models/m", LatestVersions(count=1))
    assert "'models/m/1/..'" in str(info.value) and sha in str(info.value)
    assert not (tmp_path / "1").exists()


@pytest.mark.parametrize("name", ["/etc", "a/b", "sub\\..\\x", "", "."])
def test_absolute_or_separated_names_are_refused(src: Plumbing, name: str, tmp_path: Path) -> None:
    sha = src.model_commit("main", [("100644", name, src.blob(b"x"))])
    with pytest.raises(SourceError) as info:
        read_model_tree(_direct(src, "main", sha), "models/m", LatestVersions(count=1))
    assert sha in str(info.value) and "refused" in str(info.value)
    with pytest.raises(SourceError):  # by fsck at fetch, or (backslashes) by the tree check
        read_model_tree(GitMirror(tmp_path / "cache").resolve(str(src.path), "main"), "models/m", LatestVersions(count=1))


@pytest.mark.parametrize("name", [".git", ".GIT", ".Git", ".git ", ".git.", ".git . ", "git~1", "GIT~1",
                                  ".g\u200cit", "\ufeff.git", ".git::$INDEX_ALLOCATION"])
def test_dot_git_in_every_spelling_is_refused(src: Plumbing, name: str) -> None:
    hooks = src.tree([("100755", "post-checkout", src.blob(b"#!/bin/sh\ntouch /tmp/pwned\n"))])
    sha = src.model_commit("main", [("40000", name, hooks)])
    with pytest.raises(SourceError) as info:
        read_model_tree(_direct(src, "main", sha), "models/m", LatestVersions(count=1))
    assert repr(f"models/m/1/{name}") in str(info.value) and sha in str(info.value)
    assert ".git" in str(info.value)


def test_dot_git_is_refused_by_the_mirror_fsck(src: Plumbing, tmp_path: Path) -> None:
    src.model_commit("main", [("40000", ".GIT", src.tree([("100644", "config", src.blob(b"[core]\n"))]))])
    with pytest.raises(SourceError, match="integrity check refuses.*hasDotgit"):
        GitMirror(tmp_path / "cache").resolve(str(src.path), "main")


def test_names_that_only_look_like_dot_git_pass() -> None:
    assert not any(_is_dot_git(n) for n in ["git", ".gitignore", ".gitkeep", "a.git", "gitx", "git~2"])


@pytest.mark.parametrize("target", ["../../../../etc/passwd", "/etc/passwd", "../2/saved_model.pb",
                                    "variables/../../x", "a/../../b", ".git/config", ""])
def test_links_that_may_leave_the_version_directory_are_refused(src: Plumbing, tmp_path: Path, target: str) -> None:
    sha = src.model_commit("main", [("120000", "evil", src.blob(target.encode()))])
    rev = GitMirror(tmp_path / "cache").resolve(str(src.path), "main")  # fsck has nothing against links
    with pytest.raises(SourceError) as info:
        read_model_tree(rev, "models/m", LatestVersions(count=1))
    assert "'models/m/1/evil'" in str(info.value) and sha in str(info.value)
    assert "symbolic link" in str(info.value)


def test_a_link_inside_its_version_directory_is_exported_as_a_link(src: Plumbing, tmp_path: Path) -> None:
    variables = src.tree([("100644", "variables.index", src.blob(b"idx"))])
    src.model_commit("main", [("40000", "variables", variables),
                              ("120000", "index", src.blob(b"variables/variables.index"))])
    rev = GitMirror(tmp_path / "cache").resolve(str(src.path), "main")
    tree = read_model_tree(rev, "models/m", LatestVersions(count=1))
    out = tmp_path / "out"
    tree.export(out)
    link = out / "1" / "index"
    assert link.is_symlink() and os.readlink(link) == "variables/variables.index"
    assert link.read_bytes() == b"idx"


def test_submodules_are_refused(src: Plumbing, tmp_path: Path) -> None:
    gitlink = hashlib.sha1(b"a commit of another repository").hexdigest()
    sha = src.model_commit("main", [("160000", "weights", gitlink)])
    rev = GitMirror(tmp_path / "cache").resolve(str(src.path), "main")
    with pytest.raises(SourceError) as info:
        read_model_tree(rev, "models/m", LatestVersions(count=1))
    assert "'models/m/1/weights'" in str(info.value) and sha in str(info.value)
    assert "submodule" in str(info.value)


def test_a_name_twice_in_one_directory_is_refused(src: Plumbing) -> None:
    pb = src.blob(b"pb")
    sha = src.model_commit("main", [("120000", "variables", src.blob(b".")), ("40000", "variables",
                                    src.tree([("100644", "variables.index", pb)]))])
    with pytest.raises(SourceError, match="appears twice"):
        read_model_tree(_direct(src, "main", sha), "models/m", LatestVersions(count=1))


def test_bad_entries_beside_the_version_directories_are_refused_too(src: Plumbing) -> None:
    v1 = src.tree([("100644", "saved_model.pb", src.blob(b"pb"))])
    m = src.tree([("40000", "1", v1), ("100644", "..", src.blob(b"x"))])
    root = src.tree([("40000", "models", src.tree([("40000", "m", m)]))])
    sha = _git(src.path, "commit-tree", root, "-m", "beside")
    with pytest.raises(SourceError, match="'models/m/..'"):
        read_model_tree(_direct(src, "main", sha), "models/m", LatestVersions(count=1))


def test_ordinary_models_still_resolve(model_repo, tmp_path: Path) -> None:
    rev = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    tree = read_model_tree(rev, "models/m", LatestVersions(count=1))
    assert [f.path for f in tree.files] == ["saved_model.pb", "variables/variables.index"]
