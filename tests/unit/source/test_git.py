"""Git resolution on real repositories: branches, tags, SHAs, moved refs and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.errors import SourceError
from maas_iac.source import GitMirror, check_ref, check_repository


def test_branch_tag_and_sha_resolve_to_the_commit(model_repo, tmp_path: Path) -> None:
    mirror = GitMirror(tmp_path / "cache")
    head = model_repo.git("rev-parse", "HEAD")
    assert mirror.resolve(str(model_repo.path), "main").sha == head
    assert mirror.resolve(str(model_repo.path), "v1").sha == head
    assert mirror.resolve(str(model_repo.path), head).sha == head
    assert mirror.resolve(str(model_repo.path), head[:10]).sha == head
    assert mirror.resolve(str(model_repo.path), "main").subject == "first model"


def test_annotated_tag_resolves_to_its_commit_not_the_tag_object(model_repo, tmp_path: Path) -> None:
    model_repo.git("tag", "-a", "release-1", "-m", "release")
    rev = GitMirror(tmp_path / "cache").resolve(model_repo.path.as_uri(), "release-1")
    assert rev.sha == model_repo.git("rev-parse", "HEAD")


def test_a_branch_that_moved_is_fetched_again(model_repo, tmp_path: Path) -> None:
    first = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main").sha
    model_repo.write_version(2, b"two")
    second_sha = model_repo.commit("second model")
    mirror = GitMirror(tmp_path / "cache")  # the next program run, same cache
    moved = mirror.resolve(str(model_repo.path), "main")
    assert moved.sha == second_sha != first
    assert mirror.resolve(str(model_repo.path), "v1").sha == first


def test_one_run_asks_the_remote_once_per_repository_and_ref(model_repo, tmp_path: Path, monkeypatch) -> None:
    mirror = GitMirror(tmp_path / "cache")
    calls = []
    original = GitMirror._remote_sha
    monkeypatch.setattr(GitMirror, "_remote_sha", lambda self, *a: calls.append(a) or original(self, *a))
    for _ in range(3):
        mirror.resolve(str(model_repo.path), "main")
    assert len(calls) == 1


def test_unchanged_ref_does_not_fetch(model_repo, tmp_path: Path, monkeypatch) -> None:
    GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    fetched = []
    monkeypatch.setattr(GitMirror, "_fetch", lambda self, repo, url: fetched.append(url))
    GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    assert fetched == []


def test_missing_ref_is_a_clear_error(model_repo, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="ref 'nope' does not exist"):
        GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "nope")


def test_unreachable_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot reach repository"):
        GitMirror(tmp_path / "cache").resolve(str(tmp_path / "missing"), "main")


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "fd::17", "-uhelp", "--upload-pack=evil", "relative/path"])
def test_dangerous_or_ambiguous_repositories_are_refused(url: str) -> None:
    with pytest.raises(SourceError):
        check_repository(url)


def test_ext_transport_never_runs_even_past_the_check(model_repo, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setattr("maas_iac.source.git.check_repository", lambda url: f"ext::sh -c touch% {marker}")
    with pytest.raises(SourceError):
        GitMirror(tmp_path / "cache").resolve("x", "main")
    assert not marker.exists()


@pytest.mark.parametrize("ref", ["-b", "--output=/tmp/x", "a..b", "main@{1}", "a b", "x~1", "x^", "feature/", "a.lock", ""])
def test_bad_refs_are_refused(ref: str) -> None:
    with pytest.raises(SourceError):
        check_ref(ref)


@pytest.mark.parametrize("url", ["https://github.com/org/models.git", "ssh://git@host/models.git", "git@host:org/models.git", "file:///srv/models"])
def test_ordinary_urls_are_accepted(url: str) -> None:
    assert check_repository(url) == url


def test_home_relative_path_becomes_a_file_url(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_repository("~/models") == (tmp_path / "models").as_uri()


def test_subject_reads_the_mirror_and_never_fetches(model_repo, tmp_path: Path, monkeypatch) -> None:
    sha = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main").sha
    monkeypatch.setattr(GitMirror, "_fetch", lambda *a: pytest.fail("subject must not fetch"))
    mirror = GitMirror(tmp_path / "cache")
    assert mirror.subject(str(model_repo.path), sha) == "first model"
    assert mirror.subject(str(model_repo.path), "0" * 40) is None
    assert mirror.subject(str(tmp_path / "never-resolved"), sha) is None
