"""``python -m maas_dataplane.bridge``: settings, logging, and the loop."""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Optional, Sequence

__all__ = ["main"]


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stderr.write(f"{stamp} bridge: {message}\n")
    sys.stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .config import ConfigError, parse_config

    try:
        config = parse_config(argv)
    except ConfigError as err:
        _log(f"error: {err}")
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .protos import protos_only

    protos_only()  # first: the protobuf modules without TensorFlow's runtime
    from maas_dataplane.model_server import grpc_runtime  # noqa: F401  (before grpc is imported)

    from .inference import Predictor
    from .loop import Bridge, install_signal_handlers

    predictor = Predictor(config.grpc_target, config.model, max_batch_size=config.max_batch_size,
                          timeout_s=config.grpc_timeout_s, log=_log)
    bridge = Bridge(config, predictor, _log)
    install_signal_handlers(bridge)
    # What is alive now lives as long as the process: out of the cyclic collector's full
    # passes (14 ms each here, stopping the loop), as in the model server (gc_pauses).
    gc.freeze()
    return bridge.run()
