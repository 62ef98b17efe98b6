"""Resolve checked specs to model identities, in plain Python before any resource exists.

For each spec: the Git ref becomes a commit SHA, the served version directories are listed and
hashed, and the image recipe (hence the ``md-<digest>`` tag) is fixed. The build context is
written only when the registry lacks that tag, so an unchanged model costs one registry
look-up and no disk I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from maas_iac.build.context import Batching, ImageRecipe, write_context
from maas_iac.errors import SourceError
from maas_iac.source import GitMirror, Revision, read_model_tree

__all__ = ["ResolvedModel", "Resolver", "cache_dir"]


def cache_dir() -> Path:
    """``$MAAS_CACHE`` (default ``~/.cache/maas-iac``): Git mirrors and build contexts live here."""
    return Path(os.environ.get("MAAS_CACHE") or Path.home() / ".cache" / "maas-iac")


@dataclass(frozen=True)
class ResolvedModel:
    """A spec's model pinned to content: commit, served versions, digest and image tag."""

    name: str
    revision: Revision
    recipe: ImageRecipe
    repository: str
    """Image repository in the registry, ``maas/<name>``."""
    context: Path
    """Build context directory (written only when the image must be built)."""

    @property
    def digest(self) -> str:
        return self.recipe.digest

    @property
    def tag(self) -> str:
        return self.recipe.tag


class Resolver:
    """Resolves models against a Git mirror cache and (optionally) a registry.

    ``registry_has`` answers whether the registry already holds ``repository:tag``; when it
    does, no build context is written. Pass ``None`` to always write it.
    """

    def __init__(self, cache: Path, registry_has: Optional[Callable[[str, str], bool]] = None) -> None:
        self._mirror = GitMirror(cache / "git")
        self._contexts = cache / "contexts"
        self._registry_has = registry_has

    def resolve(self, *, name: str, repository: str, ref: str, path: str, policy: str, count: Optional[int],
                versions: Optional[tuple[int, ...]], labels: dict[str, int], base_image: str,
                batching: Optional[Batching]) -> ResolvedModel:
        """Pin one model; raises :class:`SourceError` naming the model on any Git problem."""
        try:
            revision = self._mirror.resolve(repository, ref)
            tree = read_model_tree(revision, path, policy, count, versions)
        except SourceError as exc:
            raise SourceError(f"model {name}: {exc}") from None
        missing = {label: v for label, v in labels.items() if v not in tree.served}
        if missing:
            label, v = sorted(missing.items())[0]
            raise SourceError(f"model {name}: version label {label!r} points at version {v}, which is not served "
                              f"(served: {', '.join(map(str, tree.served))}); move the label or serve that version")
        recipe = ImageRecipe(model_name=name, tree=tree, base_image=base_image, version_labels=dict(labels),
                             batching=batching)
        image_repo = f"maas/{name}"
        context = self._contexts / name / recipe.tag
        if not (self._registry_has and self._registry_has(image_repo, recipe.tag)) and not context.exists():
            tmp = context.with_name(context.name + f".partial-{os.getpid()}")
            write_context(recipe, tmp)
            tmp.rename(context)
        return ResolvedModel(name=name, revision=revision, recipe=recipe, repository=image_repo, context=context)
