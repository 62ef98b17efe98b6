"""One line per event, shaped like TF Serving's glog lines::

    2025-01-31 12:00:00.123456: I model_server/loader] Successfully loaded servable version {name: m version: 1}
"""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["info", "warning", "error"]

_lock = threading.Lock()


def _emit(level: str, component: str, message: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    line = f"{stamp}: {level} model_server/{component}] {message}\n"
    with _lock:
        sys.stderr.write(line)
        sys.stderr.flush()


def info(component: str, message: str) -> None:
    _emit("I", component, message)


def warning(component: str, message: str) -> None:
    _emit("W", component, message)


def error(component: str, message: str) -> None:
    _emit("E", component, message)
