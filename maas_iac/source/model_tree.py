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

from maas_iac.errors import SourceError
from maas_iac.source.git import Revision
from maas_iac.spec.model import LatestVersions, SpecificVersions, VersionPolicy

__all__ = ["ModelFile", "ModelTree", "read_model_tree", "select_versions"]


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
        """Write the served version directories under ``dest/<version>/``, with fixed mtimes."""
        repo = _open(self.revision.mirror)
        for f in self.files:
            target = dest / str(f.version) / PurePosixPath(f.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                out.write(repo.odb.stream(bytes.fromhex(f.blob_sha)).read())
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
    dirs = {int(t.name): t for t in base.trees if t.name.isdigit() and t.name == str(int(t.name))}
    available = tuple(sorted(dirs))
    served = select_versions(available, policy)
    files = tuple(ModelFile(v, p, m, s, n) for v in served for p, m, s, n in _walk(dirs[v]))
    return ModelTree(revision=revision, path=str(rel), available=available, served=served, files=files)


def _walk(tree: git.Tree, prefix: str = "") -> Iterator[tuple[str, int, str, int]]:
    for item in sorted(tree, key=lambda o: o.name):
        name = f"{prefix}{item.name}"
        if item.type == "tree":
            yield from _walk(item, name + "/")
        elif item.type == "blob":
            if item.mode == 0o120000:
                raise SourceError(f"{name} is a symbolic link; model files must be regular files")
            yield name, item.mode, item.hexsha, item.size


def _set_mtime(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime), follow_symlinks=False)
