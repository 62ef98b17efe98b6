"""The served SavedModel files of one commit, and their content digest.

A model base directory holds numeric version sub-directories (TF Serving's layout). The
version policy picks which of them are served; only those files take part in the digest and
in the image, so a change to an unserved version changes nothing.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Iterator

import git
from git.objects.fun import tree_entries_from_data

from maas_iac.errors import SourceError
from maas_iac.source.git import Revision
from maas_iac.spec.model import LatestVersions, SpecificVersions, VersionPolicy

__all__ = ["ModelFile", "ModelTree", "link_may_escape", "read_model_tree", "select_versions"]


@dataclass(frozen=True)
class ModelFile:
    """One file of a served version, read from Git at the resolved commit."""

    version: int
    path: str
    """Path relative to the version directory, with '/' separators."""
    mode: int
    """Git file mode (0o100644 or 0o100755)."""
    blob_sha: str
    size: int


@dataclass(frozen=True)
class ModelTree:
    """The versions available under the model path at one commit, and the served ones."""

    revision: Revision
    path: str
    available: tuple[int, ...]
    served: tuple[int, ...]
    files: tuple[ModelFile, ...]
    """Files of the served versions, sorted by (version, path)."""

    @property
    def size(self) -> int:
        """Bytes of model files served."""
        return sum(f.size for f in self.files)

    def digest(self, *extra: bytes) -> str:
        """sha256 over every served file (version, relative path, mode, content) and ``extra``.

        Git's blob ids are themselves content hashes, so the files' bytes are covered without
        reading them again.
        """
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{f.version}/{f.path}\0{f.mode:o}\0{f.blob_sha}\n".encode())
        for part in extra:
            h.update(b"\0extra\0" + hashlib.sha256(part).digest())
        return h.hexdigest()

    def export(self, dest: Path, mtime: float = 0.0) -> None:
        """Write the served version directories under ``dest/<version>/``, with fixed mtimes.

        Symbolic links (checked by :func:`read_model_tree` to stay inside their version
        directory) are written as links; every other file as a regular file."""
        repo = _open(self.revision.mirror)
        for f in self.files:
            target = dest / str(f.version) / PurePosixPath(f.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = repo.odb.stream(bytes.fromhex(f.blob_sha)).read()
            if f.mode == _SYMLINK:
                os.symlink(os.fsdecode(data), target)
                continue
            with open(target, "xb") as out:
                out.write(data)
            target.chmod(0o755 if f.mode == 0o100755 else 0o644)
        for p in sorted(dest.rglob("*"), reverse=True):
            _set_mtime(p, mtime)
        _set_mtime(dest, mtime)


def select_versions(available: tuple[int, ...], policy: VersionPolicy) -> tuple[int, ...]:
    """Apply a TF Serving version policy (the spec's, already validated) to ``available``."""
    if not available:
        raise SourceError("no numeric version directory (e.g. 1/) under the model path")
    if isinstance(policy, LatestVersions):
        return tuple(sorted(available)[-policy.count:])
    if isinstance(policy, SpecificVersions):
        missing = sorted(set(policy.versions) - set(available))
        if missing:
            raise SourceError(f"version(s) {', '.join(map(str, missing))} not found; the repository has {', '.join(map(str, sorted(available)))}")
        return tuple(sorted(policy.versions))
    return tuple(sorted(available))


@lru_cache(maxsize=64)
def _open(mirror: Path) -> git.Repo:
    # One Repo (and its long-lived `git cat-file` helpers) per mirror for the whole run.
    return git.Repo(mirror)


@lru_cache(maxsize=1024)
def read_model_tree(revision: Revision, path: str, policy: VersionPolicy) -> ModelTree:
    """List the version directories under ``path`` at ``revision`` and the files of the served ones.

    Results are cached per (commit, path, policy): a commit's content never changes.
    """
    repo = _open(revision.mirror)
    tree = repo.commit(revision.sha).tree
    base = tree
    rel = PurePosixPath(path or ".")
    if rel.is_absolute() or ".." in rel.parts:
        raise SourceError(f"model path {path!r} must be relative and stay inside the repository")
    for part in rel.parts:
        if part == ".":
            continue
        try:
            base = base / part
        except KeyError:
            raise SourceError(f"model path {path!r} does not exist at {revision.ref} ({revision.sha[:12]})") from None
        if base.type != "tree":
            raise SourceError(f"model path {path!r} is a file, not a directory, at {revision.ref}")
    top = "" if str(rel) == "." else f"{rel}/"
    entries = _entries(repo, base.binsha)
    for binsha, mode, name in entries:
        _check_entry(mode, name, top, revision)
    dirs = {int(name): binsha for binsha, mode, name in entries
            if mode == _TREE and name.isdigit() and name == str(int(name))}
    available = tuple(sorted(dirs))
    served = select_versions(available, policy)
    files = tuple(ModelFile(v, p, m, s, n) for v in served
                  for p, m, s, n in _walk(repo, dirs[v], revision, f"{top}{v}/"))
    return ModelTree(revision=revision, path=str(rel), available=available, served=served, files=files)


_TREE = 0o040000
_SYMLINK = 0o120000
_GITLINK = 0o160000
_REGULAR = (0o100644, 0o100755)
# Code points HFS+ ignores in names, so '.g\u200cit' is '.git' there (as Git's own fsck knows).
_IGNORABLE = dict.fromkeys([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])


def _entries(repo: git.Repo, binsha: bytes) -> list[tuple[bytes, int, str]]:
    """A tree's entries as stored, ``(sha, mode, name)``: the raw names (GitPython's objects
    keep only the part after the last '/')."""
    return tree_entries_from_data(repo.odb.stream(binsha).read())


def _is_dot_git(name: str) -> bool:
    """``.git`` as some file system reads it: any case, HFS+ ignorables, NTFS trailing dots and
    spaces, an NTFS stream suffix (``.git::$INDEX_ALLOCATION``) or the 8.3 name ``git~1``."""
    folded = name.translate(_IGNORABLE).lower().split(":", 1)[0].rstrip(" .")
    return folded in (".git", "git~1")


def _entry_problem(name: str) -> str | None:
    if name in ("", ".", ".."):
        return f"its name is {name!r}"
    if name.startswith("/"):
        return "its name is absolute"
    if "/" in name or "\\" in name or "\0" in name:
        return "its name contains a path separator"
    if _is_dot_git(name):
        return "it is a '.git' entry, which Git treats as repository metadata"
    return None


def _refused(path: str, why: str, revision: Revision) -> SourceError:
    return SourceError(f"tree entry {path!r} at {revision.ref} ({revision.sha}) is refused: {why}; "
                       f"model directories hold only regular files, directories and links inside "
                       f"their version directory")


def _check_entry(mode: int, name: str, prefix: str, revision: Revision) -> None:
    path = f"{prefix}{name}"
    why = _entry_problem(name)
    if why:
        raise _refused(path, why, revision)
    if mode == _GITLINK:
        raise _refused(path, "it is a submodule (a gitlink to another repository)", revision)


def _walk(repo: git.Repo, binsha: bytes, revision: Revision, shown: str,
          prefix: str = "") -> Iterator[tuple[str, int, str, int]]:
    """``(path, mode, blob sha, size)`` of every file under the version tree ``binsha``;
    ``shown`` is the tree's path in the repository, for messages."""
    entries = sorted(_entries(repo, binsha), key=lambda e: e[2])
    for (_, _, a), (_, _, b) in zip(entries, entries[1:]):
        if a == b:
            raise _refused(f"{shown}{prefix}{a}", "its name appears twice in one directory", revision)
    for sha, mode, name in entries:
        _check_entry(mode, name, shown + prefix, revision)
        path = f"{prefix}{name}"
        if mode == _TREE:
            yield from _walk(repo, sha, revision, shown, path + "/")
            continue
        if mode == _SYMLINK:
            target = repo.odb.stream(sha).read().decode("utf-8", "replace")
            if link_may_escape(target):
                raise _refused(shown + path, f"it is a symbolic link to {target!r}, which may lead outside "
                               f"its version directory (link targets must be relative, without '..')", revision)
        elif mode not in _REGULAR:
            raise _refused(shown + path, f"its mode {mode:o} is not a regular file's", revision)
        yield path, mode, sha.hex(), repo.odb.info(sha).size


def link_may_escape(target: str) -> bool:
    """Whether a link to ``target`` may resolve outside its version directory. A target with no '..' and not absolute only ever descends, through
    other links too (each checked the same way), so that is the rule."""
    if not target or target.startswith("/") or "\0" in target or "\\" in target:
        return True
    return any(part == ".." or _is_dot_git(part) for part in target.split("/"))


def _set_mtime(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime), follow_symlinks=False)
