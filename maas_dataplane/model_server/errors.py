"""Errors with TensorFlow's canonical status codes, and how each surfaces over REST and gRPC.

::

    ServingError                 a request or load failed; ``code`` is a canonical code name
      (no subclasses: the code carries the meaning, as ``tensorflow::Status`` does)

The HTTP mapping is TF Serving's (``http_server.cc``): INVALID_ARGUMENT, FAILED_PRECONDITION
and OUT_OF_RANGE are 400, NOT_FOUND 404, UNIMPLEMENTED 501, UNAVAILABLE 503, and so on.
"""

from __future__ import annotations

import grpc

__all__ = ["ServingError", "HTTP_STATUS", "GRPC_STATUS", "error_code_of"]

HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

GRPC_STATUS = {code.name: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request could not be served or a version could not be loaded.

    ``code`` is a canonical status code name (``"NOT_FOUND"``, ``"INVALID_ARGUMENT"``, …);
    ``message`` is the text clients see, worded as TF Serving words it.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown status code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return GRPC_STATUS[self.code]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def error_code_of(exc: BaseException) -> str:
    """The canonical code for any exception (TensorFlow's own, ours, or UNKNOWN)."""
    if isinstance(exc, ServingError):
        return exc.code
    code = getattr(exc, "error_code", None)
    if isinstance(code, int):
        try:
            from tensorflow.core.protobuf import error_codes_pb2

            return error_codes_pb2.Code.Name(code)
        except Exception:  # pragma: no cover - defensive
            return "UNKNOWN"
    if exc.__class__.__name__ == "DecodeError":
        return "DATA_LOSS"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "NOT_FOUND"
    return "UNKNOWN"
