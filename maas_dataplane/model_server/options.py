"""Command-line flags, spelled and defaulted as ``tensorflow_model_server``'s.

Both ``--flag=value`` (TF Serving's syntax) and ``--flag value`` work; boolean flags accept
``--enable_batching``, ``--enable_batching=true`` and ``--enable_batching=false``. Flags of
``tensorflow_model_server`` that this server does not implement are accepted with a warning so
existing command lines keep working; anything else is an error.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = ["ServerOptions", "parse_args", "IGNORED_FLAGS"]


@dataclass(frozen=True)
class ServerOptions:
    port: int = 8500
    """gRPC port (PredictionService, ModelService)."""
    rest_api_port: int = 0
    """HTTP/REST port; 0 leaves REST off (TF Serving's default; the image passes 8501)."""
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    """Re-read ``--model_config_file`` this often; 0 reads it once."""
    file_system_poll_wait_seconds: int = 1
    """Look for new version directories this often; 0 looks once, at start."""
    enable_batching: bool = False
    batching_parameters_file: str = ""
    drain_seconds: float = 5.0
    """After SIGTERM: fail status checks, keep serving this long, then finish in-flight work."""
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    grpc_max_threads: int = 32
    rest_api_host: str = "0.0.0.0"
    grpc_host: str = "0.0.0.0"
    grpc_socket_path: str = ""
    """Also serve gRPC on this Unix socket (as TF Serving's flag)."""
    grpc_channel_arguments: str = ""
    """``key=value,...`` gRPC server arguments, e.g. ``grpc.max_receive_message_length=1048576``."""
    monitoring_config_file: str = ""
    """A MonitoringConfig text proto; ``prometheus_config { enable: true }`` serves metrics."""
    prefer_tflite_model: bool = False
    """Serve ``model.tflite`` of a version directory through TFLite when it has one."""
    rest_api_max_body_bytes: int = 64 * 1024 * 1024
    """Largest REST request body; larger ones are refused (413) before they are read."""
    rest_api_max_inflight_body_bytes: int = 256 * 1024 * 1024
    """Request bytes all REST connections together may hold while reading bodies (503 beyond)."""
    exit_without_models_seconds: float = 10.0
    """Once models were served, exit non-zero if none is available for this long (0: never)."""


# tensorflow_model_server flags accepted for compatibility but without effect here.
IGNORED_FLAGS = (
    "rest_api_num_threads", "rest_api_timeout_in_ms", "rest_api_enable_cors_support",
    "tensorflow_session_parallelism", "enable_model_warmup", "num_load_threads",
    "num_unload_threads", "max_num_load_retries", "load_retry_interval_micros",
    "allow_version_labels_for_unavailable_models", "platform_config_file",
    "ssl_config_file",
    "per_process_gpu_memory_fraction", "saved_model_tags", "flush_filesystem_caches",
    "enable_signature_method_name_check", "xla_cpu_compilation_enabled",
    "use_tflite_model", "remove_unused_fields_from_bundle_metagraph",
    "model_config_file_poll_wait_seconds_unused", "use_alts_credentials",
    "enable_grpc_healthcheck_service", "enable_profiler", "thread_pool_factory_config_file",
    "mixed_precision", "skip_initialize_tpu", "num_request_iterations_for_warmup",
    "tensorflow_session_config_file", "enable_serialization_as_tensor_content",
    "xla_gpu_compilation_enabled", "enable_per_model_batching_params",
)


def _bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "t", "yes", "y"):
        return True
    if lowered in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m maas_dataplane.model_server",
        description="TensorFlow Serving-compatible model server (gRPC and REST).",
        allow_abbrev=False,
    )
    d = ServerOptions()
    p.add_argument("--port", type=int, default=d.port, help="gRPC port (default 8500)")
    p.add_argument("--rest_api_port", type=int, default=d.rest_api_port,
                   help="HTTP/REST API port; 0 disables REST (default 0)")
    p.add_argument("--model_name", default=d.model_name)
    p.add_argument("--model_base_path", default=d.model_base_path)
    p.add_argument("--model_config_file", default=d.model_config_file)
    p.add_argument("--model_config_file_poll_wait_seconds", type=int,
                   default=d.model_config_file_poll_wait_seconds)
    p.add_argument("--file_system_poll_wait_seconds", type=int,
                   default=d.file_system_poll_wait_seconds)
    p.add_argument("--enable_batching", type=_bool, nargs="?", const=True, default=False)
    p.add_argument("--batching_parameters_file", default=d.batching_parameters_file)
    p.add_argument("--drain_seconds", type=float, default=d.drain_seconds,
                   help="seconds to keep serving after SIGTERM while status reports unavailable")
    p.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0)
    p.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0)
    p.add_argument("--grpc_max_threads", type=int, default=d.grpc_max_threads)
    p.add_argument("--grpc_socket_path", default=d.grpc_socket_path)
    p.add_argument("--grpc_channel_arguments", default=d.grpc_channel_arguments)
    p.add_argument("--monitoring_config_file", default=d.monitoring_config_file)
    p.add_argument("--prefer_tflite_model", type=_bool, nargs="?", const=True, default=False)
    p.add_argument("--rest_api_max_body_bytes", type=int, default=d.rest_api_max_body_bytes)
    p.add_argument("--rest_api_max_inflight_body_bytes", type=int, default=d.rest_api_max_inflight_body_bytes)
    p.add_argument("--exit_without_models_seconds", type=float, default=d.exit_without_models_seconds,
                   help="after serving models, exit 1 when none has been available this long (0: never)")
    for flag in IGNORED_FLAGS:
        p.add_argument(f"--{flag}", dest=f"ignored_{flag}", nargs="?", const="true",
                       default=None, help=argparse.SUPPRESS)
    return p


def parse_args(argv: list[str] | None) -> tuple[ServerOptions, list[str]]:
    """Parse flags; returns the options and the names of ignored flags that were given."""
    ns = build_parser().parse_args(argv)
    ignored = [f for f in IGNORED_FLAGS if getattr(ns, f"ignored_{f}") is not None]
    values = {k: v for k, v in vars(ns).items() if not k.startswith("ignored_")}
    return ServerOptions(**values), ignored
