"""Promotion: the image one stack serves for a model, pinned into another stack's config.

The source's facts come from its own record, never from the model's Git source: the stack
outputs say which image the replicas run (``<registry>/maas/<model>@sha256:…``), its commit,
content digest and versions; the state's image resource says the tag. The pin is the stack key
``maas:promoted`` (:class:`~maas_iac.spec.Promotion`), written whole through the Automation
API so a pin never keeps a field of the previous one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maas_iac import type_tokens as tokens
from maas_iac.errors import PromotionError
from maas_iac.spec import Promotion

__all__ = ["PROMOTED_KEY", "SourceImage", "current_pins", "source_image", "write_pins"]

PROMOTED_KEY = "maas:promoted"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class SourceImage:
    """A promotion and where its image lives on the source stack."""

    promotion: Promotion
    registry: str
    """The source registry's address, as the exported image names it."""
    repository: str


def source_image(stack: str, model: str, outputs: Mapping[str, Any], deployment: Mapping[str, Any]) -> SourceImage:
    """The image ``stack`` serves for ``model``, from its outputs and its state (``export_stack``);
    :class:`PromotionError` when the stack does not deploy the model."""
    value = outputs.get(model)
    if not isinstance(value, Mapping) or not value.get("image"):
        models = sorted(k for k, v in outputs.items() if isinstance(v, Mapping) and v.get("image"))
        raise PromotionError(f"stack {stack} deploys no model {model!r} (models: {', '.join(models) or 'none'}); "
                             f"deploy it there first: pulumi up --stack {stack}")
    image = str(value["image"])
    name, _, digest = image.partition("@")
    registry, _, repository = name.partition("/")
    if not _DIGEST.match(digest) or not repository:
        raise PromotionError(f"stack {stack} exports model {model}'s image as {image!r}, not <registry>/<repo>@sha256:…; "
                             f"run pulumi up --stack {stack} with this version of maas-iac first")
    tag = _image_tag(deployment, model, image)
    if tag is None:
        raise PromotionError(f"the state of stack {stack} has no image resource for {image}; "
                             f"refresh it (pulumi refresh --stack {stack}) or deploy it again")
    promotion = Promotion(from_stack=stack, image=digest, tag=tag, git_sha=str(value["gitSha"]),
                          digest=str(value["digest"]), versions=tuple(int(v) for v in value["versions"]))
    return SourceImage(promotion, registry, repository)


def _image_tag(deployment: Mapping[str, Any], model: str, image: str) -> str | None:
    for resource in deployment.get("resources") or ():
        outputs = resource.get("outputs") or {}
        if (resource.get("type") == tokens.REGISTRY_IMAGE and str(resource.get("urn", "")).endswith(f"::{model}-image-image")
                and outputs.get("repo_digest") == image):
            return str(outputs["tag"])
    return None


def current_pins(handle: Any) -> dict[str, Any]:
    """The stack's ``maas:promoted`` as plain data (empty when unset)."""
    value = handle.get_all_config().get(PROMOTED_KEY)
    if value is None:
        return {}
    pins = json.loads(value.value) if isinstance(value.value, str) else value.value
    return dict(pins or {})


def write_pins(handle: Any, pins: Mapping[str, Any]) -> None:
    """Replace the stack's ``maas:promoted`` with ``pins`` (plain values), or remove the key."""
    if not pins:
        handle.remove_config(PROMOTED_KEY)
        return
    handle.set_all_config_json(json.dumps(
        {PROMOTED_KEY: {"value": json.dumps(pins), "objectValue": dict(pins), "secret": False}}))
