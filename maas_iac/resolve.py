"""Resolve checked specs to model identities, in plain Python before any resource exists.

For each spec: the Git ref becomes a commit SHA, the served version directories are listed and
hashed, and the image recipe (hence the ``md-<digest>`` tag) is fixed. The build context is
written only when the registry lacks that tag, so an unchanged model costs one registry
look-up and no disk I/O.

A context about to be built is checked first: each served version directory is loaded with
the model server's own SavedModel loader, in a sandboxed container (the model's graph runs
while it loads, and models are untrusted), so a corrupt version fails the preview (one line naming the model and version) before any image is built or replica started.
A version that loaded once is remembered by its files' Git blob ids and never loaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable, Optional

from maas_iac.artifacts.context import IMAGE_LABELS, Batching, ImageRecipe, write_context
from maas_iac.errors import PromotionError, SourceError
from maas_iac.load_sandbox import LoadCheckSandbox, SandboxResult, SandboxTimeout
from maas_iac.source import GitMirror, Revision, read_model_tree
from maas_iac.source.model_tree import ModelTree
from maas_iac.spec import ModelServiceSpec, Promotion, StackConfig, apply_stack_config
from maas_iac.spec.model import Batching as SpecBatching

__all__ = ["PinnedImage", "ResolvedModel", "Resolver", "cache_dir", "check_loadable", "recipe_batching",
           "resolve_pinned"]

LOAD_CHECK_TIMEOUT_S = 300
"""How long loading the new versions of one model may take."""



def cache_dir() -> Path:
    """``$MAAS_CACHE`` (default ``~/.cache/maas-iac``): Git mirrors and build contexts live here."""
    return Path(os.environ.get("MAAS_CACHE") or Path.home() / ".cache" / "maas-iac")


@dataclass(frozen=True)
class PinnedImage:
    """A promoted image as this stack runs it: the ``maas:promoted`` entry, and what the image
    itself says (its labels and command), read from the stack's registry."""

    promotion: Promotion
    labels: Mapping[str, str]
    """The image's own maas-iac labels (Git SHA, repository, digest, versions)."""
    server_args: tuple[str, ...]
    """The image's command: the serving config it was built with."""
    base_image: str
    """This stack's serving base image (what the bridge runs; the model image has its own)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A checked spec pinned to content, as it runs on one stack: everything the later stages
    need, so none of them reads the spec's source again or re-validates anything.

    A promoted model (``pinned``) has no revision, recipe or context: its Git source is not
    read, and everything about its image comes from the pin.
    """

    spec: ModelServiceSpec
    """The spec after the stack's merge rule (replicas, base image, ports)."""
    revision: Optional[Revision]
    """The commit the ref resolved to (None when pinned)."""
    recipe: Optional[ImageRecipe]
    """The image's content: served versions and files, serving config, base image (None when pinned)."""
    repository: str
    """Image repository in the registry, ``maas/<name>``."""
    context: Optional[Path]
    """Build context directory (written only when the image must be built; None when pinned)."""
    pinned: Optional[PinnedImage] = None
    """The promoted image this model runs on this stack, if any."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def served(self) -> tuple[int, ...]:
        """The version numbers the image serves."""
        return self.pinned.promotion.versions if self.pinned else self._recipe.tree.served

    @property
    def digest(self) -> str:
        return self.pinned.promotion.digest if self.pinned else self._recipe.digest

    @property
    def tag(self) -> str:
        return self.pinned.promotion.tag if self.pinned else self._recipe.tag

    @property
    def git_sha(self) -> str:
        return self.pinned.promotion.git_sha if self.pinned else self._revision.sha

    @property
    def labels(self) -> dict[str, str]:
        """The image's OCI labels."""
        return dict(self.pinned.labels) if self.pinned else self._recipe.labels

    @property
    def server_args(self) -> list[str]:
        """Arguments after the serving image's entrypoint."""
        return list(self.pinned.server_args) if self.pinned else self._recipe.server_args

    @property
    def base_image(self) -> str:
        """The stack's serving base image, pinned by digest where its registry answers."""
        return self.pinned.base_image if self.pinned else self._recipe.base_image

    @property
    def _recipe(self) -> ImageRecipe:
        assert self.recipe is not None
        return self.recipe

    @property
    def _revision(self) -> Revision:
        assert self.revision is not None
        return self.revision


def recipe_batching(batching: SpecBatching) -> Optional[Batching]:
    """The spec's batching as the recipe renders it, or None when batching is off."""
    if not batching.enabled:
        return None
    return Batching(max_batch_size=batching.max_batch_size, batch_timeout_micros=batching.batch_timeout_micros,
                    num_batch_threads=batching.num_batch_threads, max_enqueued_batches=batching.max_enqueued_batches)


class Resolver:
    """Resolves models against a Git mirror cache and (optionally) a registry.

    ``registry_has`` answers whether the registry already holds ``repository:tag``; when it
    does, no build context is written. Pass ``None`` to always write it. ``check`` vets a
    context's versions before it is kept (:func:`check_loadable`; ``None`` skips that).
    """

    def __init__(self, cache: Path, registry_has: Optional[Callable[[str, str], bool]] = None,
                 check: Optional[Callable[[str, ModelTree, Path, Path], None]] = None) -> None:
        self._mirror = GitMirror(cache / "git")
        self._contexts = cache / "contexts"
        self._checked = cache / "loadable"
        self._registry_has = registry_has
        self._check = check

    def resolve(self, spec: ModelServiceSpec, stack: StackConfig,
                pin: Callable[[str], str] = lambda ref: ref) -> ResolvedModel:
        """Pin ``spec`` 's model on ``stack``; raises :class:`SourceError` naming the model on
        any Git problem. ``pin`` turns the base image reference into the one the recipe uses
        (the program pins it to its registry digest, so a new base image means a new tag)."""
        spec = apply_stack_config(spec, stack)
        name, src = spec.name, spec.source
        try:
            revision = self._mirror.resolve(src.repository, src.ref)
            tree = read_model_tree(revision, src.path, src.versions)
        except SourceError as exc:
            raise SourceError(f"model {name}: {exc}") from None
        missing = {label: v for label, v in src.labels.items() if v not in tree.served}
        if missing:
            label, v = sorted(missing.items())[0]
            raise SourceError(f"model {name}: version label {label!r} points at version {v}, which is not served "
                              f"(served: {', '.join(map(str, tree.served))}); move the label or serve that version")
        recipe = ImageRecipe(model_name=name, tree=tree, base_image=pin(spec.serving.base_image or ""),
                             version_labels=dict(src.labels), batching=recipe_batching(spec.serving.batching))
        image_repo = f"maas/{name}"
        context = self._contexts / name / recipe.tag
        # The local look-up first: a context kept from an earlier run spares the registry a request.
        if not context.exists() and not (self._registry_has and self._registry_has(image_repo, recipe.tag)):
            tmp = context.with_name(context.name + f".partial-{os.getpid()}")
            write_context(recipe, tmp)
            try:
                if self._check:
                    self._check(name, tree, tmp / "model", self._checked)
            except SourceError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            tmp.rename(context)
        return ResolvedModel(spec=spec, revision=revision, recipe=recipe, repository=image_repo, context=context)


def resolve_pinned(spec: ModelServiceSpec, stack: StackConfig, promotion: Promotion, image: Mapping[str, Any],
                   base_image: str) -> ResolvedModel:
    """``spec`` on ``stack`` pinned to ``promotion``; ``image`` is the promoted image's config
    (:func:`maas_iac.clients.registry_copy.image_config`) from the stack's registry, and must
    be the image the pin describes. ``base_image`` is the stack's pinned serving base (for the
    bridge). The spec's Git source is not read: a new commit on its ref changes nothing."""
    spec = apply_stack_config(spec, stack)
    labels = {k: str(v) for k, v in (image.get("Labels") or {}).items() if k in IMAGE_LABELS}
    found = (labels.get("io.maas-iac.model-digest"), labels.get("org.opencontainers.image.revision"))
    if found != (promotion.digest, promotion.git_sha) or not image.get("Cmd"):
        raise PromotionError(
            f"model {spec.name}: the image {stack.registry}/maas/{spec.name}@{promotion.image} is not the one "
            f"maas:promoted describes (its labels say digest {found[0]}, commit {found[1]}); promote it again: "
            f"maas promote {spec.name} --from {promotion.from_stack} --to {stack.stack}")
    pinned = PinnedImage(promotion=promotion, labels=labels, server_args=tuple(str(a) for a in image["Cmd"]),
                         base_image=base_image)
    return ResolvedModel(spec=spec, revision=None, recipe=None, repository=f"maas/{spec.name}", context=None,
                         pinned=pinned)


def _version_key(tree: ModelTree, version: int) -> str:
    """Identity of one version directory's content: its files' paths, modes and blob ids."""
    h = hashlib.sha256()
    for f in tree.files:
        if f.version == version:
            h.update(f"{f.path}\0{f.mode:o}\0{f.blob_sha}\n".encode())
    return h.hexdigest()


def check_loadable(name: str, tree: ModelTree, exported: Path, checked: Path, *,
                   run: Optional[Callable[..., SandboxResult]] = None) -> None:
    """Load every served version in ``exported/<version>`` that has not loaded before.

    The load runs in a sandboxed container (:mod:`maas_iac.load_sandbox`): no network, no host
    environment, only copies of the versions, read-only to it. ``run`` is the runner
    (``run(name, {version: dir}, timeout_s)``, default :class:`LoadCheckSandbox` with its
    default image and this machine's engine).

    Raises :class:`SourceError` naming the model, the version and the commit when one does not
    load. Versions that loaded are recorded under ``checked`` (one empty file per content key).
    """
    todo = {v: _version_key(tree, v) for v in tree.served}
    todo = {v: key for v, key in todo.items() if not (checked / key).exists()}
    if not todo:
        return
    runner = run or LoadCheckSandbox()
    try:
        done = runner(name, {v: exported / str(v) for v in sorted(todo)}, LOAD_CHECK_TIMEOUT_S)
    except SandboxTimeout:
        raise SourceError(f"model {name}: loading version(s) {', '.join(map(str, sorted(todo)))} took more "
                          f"than {LOAD_CHECK_TIMEOUT_S}s") from None
    try:
        failures = json.loads(done.stdout.strip().splitlines()[-1])
        if not isinstance(failures, dict):
            raise ValueError(failures)
    except (IndexError, ValueError):
        tail = " ".join(done.stderr.strip().splitlines()[-1:])[-300:] or f"exit status {done.exit_code}"
        raise SourceError(f"model {name}: could not check its SavedModels: {tail}") from None
    rev = tree.revision
    if failures:
        version, why = sorted(failures.items(), key=lambda kv: int(kv[0]))[0]
        raise SourceError(
            f"model {name}: version {version} at {rev.ref} ({rev.sha[:12]}) is not a loadable SavedModel: {why}. "
            f"Fix it in the model repository or point source.ref back to a commit whose versions load")
    checked.mkdir(parents=True, exist_ok=True)
    for key in todo.values():
        (checked / key).touch()
