"""ModelImage: the model's serving image, built and pushed only when the registry lacks its tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pulumi

from maas_iac import type_tokens
from maas_iac.providers import RegistryImage

__all__ = ["ModelImage", "ModelImageArgs"]


@dataclass(frozen=True)
class ModelImageArgs:
    """Inputs of a :class:`ModelImage`."""

    context: str
    """Build-context directory written by :func:`maas_iac.artifacts.context.write_context`."""
    registry: str
    """Registry ``host:port`` of the stack."""
    repository: str
    """Repository in the registry, e.g. ``maas/half-plus-two``."""
    tag: str
    """Content-addressed tag ``md-<digest[:12]>``: the image's identity."""
    labels: dict[str, str]
    """OCI labels (Git SHA, repository, digest); already in the Dockerfile, repeated for the record."""
    docker: Optional[dict[str, Any]] = None
    """The engine that builds and pushes, ``DockerEndpoint.to_props()``; None: the local socket."""
    pinned_digest: Optional[str] = None
    """A promoted model's manifest digest: never built, the registry must have the tag at it."""
    promoted_from: Optional[str] = None
    """The stack a pinned image was promoted from (for the preview card)."""


class ModelImage(pulumi.ComponentResource):
    """The model image in the stack's registry.

    An unchanged model keeps its tag, so nothing is built, pushed or restarted; a changed one
    gets a new tag, which replaces the image resource (build + push unless the registry already
    has the tag). A promoted model's image is pinned: the same resource, which never builds and
    only checks that the registry has the tag at the pinned digest.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        image_ref: pulumi.Output[str]
        """``registry/repository:tag``."""
        repo_digest: pulumi.Output[str]
        """``registry/repository@sha256:…``: what the replicas run."""

    def __init__(self, name: str, args: ModelImageArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.MODEL_IMAGE, name, None, opts)
        image = RegistryImage(
            f"{name}-image",
            context=args.context,
            registry=args.registry,
            repository=args.repository,
            tag=args.tag,
            labels=args.labels,
            docker=args.docker,
            pinned_digest=args.pinned_digest,
            promoted_from=args.promoted_from,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image.image_ref
        self.repo_digest = image.repo_digest
        self.register_outputs({"image_ref": self.image_ref, "repo_digest": self.repo_digest})
