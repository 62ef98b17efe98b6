"""Resolve a model's Git repository and ref to a commit, through a local mirror cache.

Every repository (local path, ``file://``, ``https://``, ``ssh://`` or ``git@host:path``) is
mirrored once into a bare repository under the cache directory. Later resolutions ask the
remote for the ref's commit (``git ls-remote``) and fetch only when the mirror lacks it, so an
unchanged ref costs one round trip and no transfer.

Spec files are untrusted: URLs and refs are checked again here (defence in depth, the spec
validator checks them first), Git runs with only the ``file``, ``git``, ``ssh``, ``http`` and
``https`` transports allowed, and every value goes to Git as a separate argument after ``--``
or in a position where it cannot be taken as an option.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import git

from maas_iac.errors import SourceError

__all__ = ["Revision", "GitMirror", "check_repository", "check_ref"]

_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_FULL_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_TRANSPORT_HELPER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_ALLOWED_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$")

# Transports Git may use on behalf of a spec; `ext::` and other helpers run programs.
_GIT_ENV = {
    "GIT_ALLOW_PROTOCOL": "file:git:ssh:http:https",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
}


@dataclass(frozen=True)
class Revision:
    """A ref resolved to one commit of one repository."""

    repository: str
    """The repository as the spec names it."""
    ref: str
    """The branch, tag or SHA the spec asked for."""
    sha: str
    """The full commit SHA the ref resolves to."""
    subject: str
    """The commit's subject line, for previews."""
    mirror: Path
    """The bare mirror holding the commit."""


def check_repository(repository: str) -> str:
    """Return the repository as a Git URL, or raise SourceError for a refused one.

    Local paths (absolute or ``~/…``) become ``file://`` URLs; ``https``, ``http``, ``ssh``,
    ``git`` and ``file`` URLs and scp-like ``user@host:path`` are accepted as they are.
    """
    if not repository or repository.startswith("-"):
        raise SourceError(f"repository {repository!r} looks like a command-line option; use a URL or an absolute path")
    if _TRANSPORT_HELPER_RE.match(repository):
        raise SourceError(f"repository {repository!r} uses a Git transport helper ('<name>::'), which can run programs; use https://, ssh:// or a path")
    if any(ord(c) < 0x20 for c in repository):
        raise SourceError(f"repository {repository!r} contains control characters")
    if repository.startswith(_ALLOWED_SCHEMES):
        return repository
    if _SCP_LIKE_RE.match(repository):
        return repository
    path = Path(os.path.expanduser(repository))
    if not path.is_absolute():
        raise SourceError(f"repository {repository!r} is neither a URL nor an absolute path; write it as https://…, ssh://…, file:///… or /abs/path")
    return path.resolve().as_uri()


def check_ref(ref: str) -> str:
    """Return ``ref`` if Git would accept it as a branch, tag or SHA; raise SourceError otherwise."""
    bad = (
        not ref
        or ref.startswith(("-", "/"))
        or ref.endswith((".", "/", ".lock"))
        or ".." in ref
        or "@{" in ref
        or "//" in ref
        or ref == "@"
        or any(ord(c) < 0x21 or c in "~^:?*[\\\x7f" for c in ref)
    )
    if bad:
        raise SourceError(f"ref {ref!r} is not a valid branch, tag or commit SHA")
    return ref


class GitMirror:
    """Bare mirrors of model repositories under ``cache_dir``, one per repository URL.

    A resolution is remembered for the life of the object (one program run), so specs that
    share a repository and ref cost one remote look-up.
    """

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = Path(cache_dir)
        # Many specs often share one repository and ref (a model monorepo): ask the remote once.
        self._resolved: dict[tuple[str, str], Revision] = {}

    def resolve(self, repository: str, ref: str) -> Revision:
        """Resolve ``ref`` in ``repository`` to a commit, fetching only if the mirror lacks it."""
        url = check_repository(repository)
        check_ref(ref)
        if (url, ref) in self._resolved:
            return self._resolved[(url, ref)]
        repo = self._mirror(url)
        sha = self._remote_sha(repo, url, ref)
        if sha is None or not self._has_commit(repo, sha):
            self._fetch(repo, url)
            if sha is None:
                sha = self._local_sha(repo, ref)
        if sha is None or not self._has_commit(repo, sha):
            raise SourceError(f"ref {ref!r} does not exist in {repository}; check the branch, tag or SHA (git ls-remote {repository})")
        commit = repo.commit(sha)
        revision = Revision(repository=repository, ref=ref, sha=commit.hexsha, subject=commit.summary,
                            mirror=Path(repo.git_dir))
        self._resolved[(url, ref)] = revision
        return revision

    def subject(self, repository: str, sha: str) -> str | None:
        """The subject of commit ``sha`` if the mirror of ``repository`` already has it; never
        fetches (for reports about commits an earlier run resolved)."""
        try:
            path = self._mirror_path(check_repository(repository))
        except SourceError:
            return None
        if not (path / "HEAD").exists():
            return None
        try:
            return git.Repo(path).commit(sha).summary
        except (ValueError, git.GitError):
            return None

    def _mirror_path(self, url: str) -> Path:
        return self._cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:20]}.git"

    def _mirror(self, url: str) -> git.Repo:
        path = self._mirror_path(url)
        if (path / "HEAD").exists():
            repo = git.Repo(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(path, bare=True)
        repo.git.update_environment(**_GIT_ENV)
        return repo

    def _remote_sha(self, repo: git.Repo, url: str, ref: str) -> str | None:
        """The commit the remote names ``ref``; None when ``ref`` is a SHA or not advertised."""
        if _SHA_RE.match(ref):
            return ref if _FULL_SHA_RE.match(ref) else None
        try:
            out = repo.git.ls_remote("--", url, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}")
        except git.GitCommandError as exc:
            raise SourceError(f"cannot reach repository {url}: {_git_reason(exc)}") from None
        refs = dict(line.split("\t")[::-1] for line in out.splitlines() if "\t" in line)
        # An annotated tag's peeled line names the commit; prefer it over the tag object.
        for name in (f"refs/tags/{ref}^{{}}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in refs:
                return refs[name]
        return None

    def _fetch(self, repo: git.Repo, url: str) -> None:
        try:
            repo.git.fetch("--prune", "--tags", "--force", "--", url, "+refs/heads/*:refs/heads/*")
        except git.GitCommandError as exc:
            raise SourceError(f"cannot fetch {url}: {_git_reason(exc)}") from None

    @staticmethod
    def _local_sha(repo: git.Repo, ref: str) -> str | None:
        try:
            return repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except git.GitCommandError:
            return None

    @staticmethod
    def _has_commit(repo: git.Repo, sha: str) -> bool:
        try:
            repo.git.cat_file("-e", f"{sha}^{{commit}}")
            return True
        except git.GitCommandError:
            return False


def _git_reason(exc: git.GitCommandError) -> str:
    lines = [ln.strip() for ln in str(exc.stderr or "").splitlines() if ln.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else f"git exited {exc.status}"
