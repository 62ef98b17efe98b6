"""grpc core settings for the model server's process; the package imports this first.

Since grpcio 1.6x, grpc reads and writes every socket on its EventEngine threads, which hand
each completion back to the thread that polls the completion queue: two or three thread
hops per call. On the 2-core benchmark machine that was 0.15–0.2 ms of a ``Predict``'s p50
(``benchmarks/serving_latency.py``). With the two experiments below turned off, grpc's
classic poller does the socket I/O in the polling thread itself.

grpc reads ``GRPC_EXPERIMENTS`` once, when it is first imported, so this must run before
that; a value the operator set wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["CLASSIC_POLLER"]

CLASSIC_POLLER = "-event_engine_listener,-event_engine_client"
"""Accepted connections (listener) and outgoing channels (client) off EventEngine."""

if "grpc" not in sys.modules:
    os.environ.setdefault("GRPC_EXPERIMENTS", CLASSIC_POLLER)
