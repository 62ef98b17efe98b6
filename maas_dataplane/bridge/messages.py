"""The bridge's message contract: header names, content types, and what goes where.

A request record on ``<stack>.<model>.requests``:

* key: the request id (required; a record without one goes to the errors topic);
* value: a TF Serving REST request body (``{"instances": ...}`` or ``{"inputs": ...}``, optional
  ``"signature_name"``) with ``content-type: application/json`` (the default), or a serialized
  ``tensorflow.serving.PredictRequest`` with ``content-type: application/x-protobuf``;
* optional headers ``model-version`` (a number) or ``model-version-label`` pin a version.

Its answer on ``<stack>.<model>.predictions`` has the same key, the REST response body
(``{"predictions": ...}`` / ``{"outputs": ...}``) or a serialized ``PredictResponse``, and the
headers below. A request that can never succeed goes to ``<stack>.<model>.errors`` with its
original key, value and headers plus ``error-code`` and ``error-message``.
``schemas/kafka-*.schema.json`` are the same contract as JSON Schema.
"""

from __future__ import annotations

__all__ = [
    "CONTENT_TYPE", "JSON", "PROTOBUF", "MODEL_VERSION", "MODEL_VERSION_LABEL", "MODEL", "GIT_SHA",
    "DIGEST", "REQUEST_OFFSET", "LATENCY_MS", "ERROR_CODE", "ERROR_MESSAGE", "TRANSIENT_CODES",
    "header", "request_offset",
]

CONTENT_TYPE = "content-type"
JSON = "application/json"
PROTOBUF = "application/x-protobuf"

# request headers (optional)
MODEL_VERSION = "model-version"
"""Pin a version number; the prediction's ``model-version`` says which version answered."""
MODEL_VERSION_LABEL = "model-version-label"
"""Pin a version label (``stable``, ``canary``): one of this or ``model-version``, never both."""

# prediction headers (and, on errors records, added to the request's own)
MODEL = "model"
"""The model name."""
GIT_SHA = "git-sha"
"""Commit SHA of the model source the deployment was built from."""
DIGEST = "model-digest"
"""Content digest of the served versions."""
REQUEST_OFFSET = "request-offset"
"""``<partition>:<offset>`` of the request record on the requests topic."""
LATENCY_MS = "latency-ms"
"""Milliseconds from the request record's timestamp to the answer being produced."""
ERROR_CODE = "error-code"
"""Canonical status code name: INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ..."""
ERROR_MESSAGE = "error-message"
"""What is wrong, as the model server words it."""

TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
"""Codes retried with backoff (a rollout, a restart, an overload); never sent to errors."""


def header(headers: list[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """The last value of header ``name`` (case-insensitive) as text, or ``None``."""
    found = None
    for key, value in headers or ():
        if key.lower() == name:
            found = "" if value is None else value.decode("utf-8", "replace")
    return found


def request_offset(partition: int, offset: int) -> str:
    return f"{partition}:{offset}"
