"""Pin the serving base image to its registry digest, so the model digest covers its content.

``127.0.0.1:5000/maas/serving:2.21.0`` names whatever that tag points at today; the model
image's identity must change when the base does (a server fix, a new TensorFlow). So a base
image in a registry the program can ask is pinned to ``<registry>/<repo>@sha256:…`` before the
recipe is made; one on a registry it cannot ask (e.g. Docker Hub from an offline machine) stays
as written.
"""

from __future__ import annotations

from typing import Callable, Optional

__all__ = ["pin_base_image", "split_reference"]

DigestLookup = Callable[[str, str, str], Optional[str]]
"""``(registry, repository, tag) -> "sha256:…" | None``, e.g. ``providers.docker_image.manifest_digest``."""


def split_reference(ref: str) -> Optional[tuple[str, str, str]]:
    """``(registry, repository, tag)`` of an image reference with an explicit registry host,
    or None (no registry host, or already pinned by digest)."""
    if "@" in ref or "/" not in ref:
        return None
    host, rest = ref.split("/", 1)
    if not ("." in host or ":" in host or host == "localhost"):
        return None  # Docker Hub short form, e.g. tensorflow/serving:2.19.0
    repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return (host, repo, tag) if repo else None


def pin_base_image(ref: str, lookup: DigestLookup) -> str:
    """``ref`` pinned to its digest when its registry answers, else ``ref`` unchanged."""
    parts = split_reference(ref)
    if parts is None:
        return ref
    registry, repo, tag = parts
    digest = lookup(registry, repo, tag)
    return f"{registry}/{repo}@{digest}" if digest else ref
