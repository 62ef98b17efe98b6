"""A TensorFlow Serving-compatible model server: ``python -m maas_dataplane.model_server``.

Drop-in for what maas-iac uses of ``tensorflow_model_server``: the same flags
(``--port``, ``--rest_api_port``, ``--model_name``, ``--model_base_path``,
``--model_config_file``, polling, ``--enable_batching``/``--batching_parameters_file``), the
same model directory layout and ``models.config`` text format, the same REST API and gRPC
services (checked with the official ``tensorflow_serving.apis`` stubs), plus
``--drain_seconds`` for a graceful stop behind a router.

Modules: ``options`` (flags), ``config`` (models.config), ``manager`` (versions, policies,
labels, polling), ``servable`` (one loaded SavedModel), ``batching``, ``tensors`` (numpy ↔
TensorProto ↔ JSON), ``service`` (shared request logic), ``rest``, ``grpc_api``,
``grpc_runtime`` (grpc core settings, imported first), ``server``.
"""

from . import grpc_runtime  # noqa: F401  (first: grpc reads its settings when imported)
from .server import ModelServer, main

__all__ = ["ModelServer", "main"]
