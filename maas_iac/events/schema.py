"""The ``ModelVersionDeployed`` event, validated against ``schemas/model-version-deployed.schema.json``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["EVENT_TYPE", "SCHEMA_PATH", "deployed_event", "validate_event"]

EVENT_TYPE = "ModelVersionDeployed"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "model-version-deployed.schema.json"


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``event`` does not match the schema."""
    _validator().validate(event)


def deployed_event(*, model: str, stack: str, git_sha: str, repository: str, digest: str, image: str,
                   versions: list[int], replicas: int, at: datetime | None = None) -> dict[str, Any]:
    """Build (and validate) one ``ModelVersionDeployed`` event."""
    event = {
        "type": EVENT_TYPE,
        "model": model,
        "stack": stack,
        "gitSha": git_sha,
        "repository": repository,
        "digest": digest,
        "image": image,
        "versions": list(versions),
        "replicas": replicas,
        "time": (at or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    validate_event(event)
    return event
