"""The serving image's contract, as ``tensorflow/serving`` defines it.

A serving image (the official one or ``maas/serving``) serves ``${MODEL_BASE_PATH}/${MODEL_NAME}``
with gRPC on :data:`GRPC_PORT` and REST on :data:`REST_PORT`; arguments after the image name
are appended to the server's flags. The control plane builds every container against these
values and nothing else, so any image that keeps the contract can serve.
"""

from __future__ import annotations

__all__ = ["GRPC_PORT", "MODEL_BASE_PATH", "MODEL_NAME_ENV", "MODEL_BASE_PATH_ENV", "PYTHON", "REST_PORT"]

GRPC_PORT = 8500
"""gRPC port inside the container (``--port``)."""
REST_PORT = 8501
"""REST port inside the container (``--rest_api_port``)."""
MODEL_NAME_ENV = "MODEL_NAME"
"""Environment variable naming the served model (single-model mode)."""
MODEL_BASE_PATH_ENV = "MODEL_BASE_PATH"
"""Environment variable naming the directory that holds ``<MODEL_NAME>/<version>/``."""
MODEL_BASE_PATH = "/models"
"""The official image's default ``MODEL_BASE_PATH``."""
PYTHON = "/opt/maas/python/bin/python3"
"""The ``maas/serving`` image's interpreter, by absolute path (it need not be on ``PATH``).
A container command starting with an absolute path runs instead of the model server
(``images/serving/entrypoint.sh``): the bridge is ``[PYTHON, "-m", "maas_dataplane.bridge"]``."""
