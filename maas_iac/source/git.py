"""Resolve a model's Git repository and ref to a commit, through a local mirror cache.

Every repository (local path, ``file://``, ``https://``, ``ssh://`` or ``git@host:path``) is
mirrored once into a bare repository under the cache directory. Later resolutions ask the
remote for the ref's commit (``git ls-remote``) and fetch only when the mirror lacks it, so an
unchanged ref costs one round trip and no transfer.

Spec files are untrusted: URLs and refs are checked again here with the spec validator's own
rules (:mod:`maas_iac.source.urls`; defence in depth, the spec validator checks them first),
Git runs with only the ``file``, ``ssh`` and ``https`` transports allowed, and every value goes
to Git as a separate argument after ``--`` or in a position where it cannot be taken as an
option.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import git

from maas_iac.errors import SourceError
from maas_iac.source import urls

__all__ = ["Revision", "GitMirror", "check_repository", "check_ref"]

_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_FULL_SHA_RE = re.compile(r"^[0-9a-f]{40}$")

# Transports Git may use on behalf of a spec; `ext::` and other helpers run programs.
_GIT_ENV = {
    "GIT_ALLOW_PROTOCOL": ":".join(urls.ALLOWED_SCHEMES),
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

    The rules are :func:`maas_iac.source.urls.check_repository`, the same the spec validator
    applies. Local paths (absolute or ``~/…``) become ``file://`` URLs; ``https``, ``ssh`` and
    ``file`` URLs and scp-like ``user@host:path`` are returned as they are.
    """
    try:
        return urls.git_url(repository)
    except urls.UrlProblem as exc:
        # the message never repeats the value: it may hold a credential
        raise SourceError(f"repository refused: {exc.message}; {exc.fix}") from None


def check_ref(ref: str) -> str:
    """Return ``ref`` if Git would accept it as a branch, tag or SHA; raise SourceError otherwise."""
    try:
        urls.check_ref(ref)
    except urls.UrlProblem as exc:
        raise SourceError(exc.message) from None
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
        _verify_objects(repo)
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
            fsck = _FSCK_ERROR.search(str(exc.stderr or ""))
            if fsck:
                raise SourceError(
                    f"cannot fetch {url}: the repository holds an object Git's integrity check refuses "
                    f"(object {fsck['sha'][:12]}: {fsck['id']}: {fsck['what'].strip()}); "
                    f"rewrite the history without it or point source.ref at another repository") from None
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


# Objects Git's fsck refuses ('..', '.git' or '/' in tree entry names, bad modes, ...) never
# enter a mirror: set on every mirror, old ones included.
_FSCK_SETTINGS = {("transfer", "fsckObjects"): "true", ("fetch", "fsckObjects"): "true"}
_FSCK_ERROR = re.compile(r"error: object (?P<sha>[0-9a-f]{7,64}): (?P<id>\w+): (?P<what>[^\n']*)")


def _verify_objects(repo: git.Repo) -> None:
    reader = repo.config_reader("repository")
    missing = {k: v for k, v in _FSCK_SETTINGS.items()
               if str(reader.get_value(k[0], k[1], "")).lower() != v}
    if missing:
        with repo.config_writer("repository") as writer:
            for (section, option), value in missing.items():
                writer.set_value(section, option, value)


def _git_reason(exc: git.GitCommandError) -> str:
    lines = [ln.strip() for ln in str(exc.stderr or "").splitlines() if ln.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else f"git exited {exc.status}"
