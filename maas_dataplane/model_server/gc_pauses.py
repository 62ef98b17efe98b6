"""Keeps the cyclic garbage collector's full passes off the request path.

TensorFlow and a loaded SavedModel leave about 290,000 long-lived Python objects in the
server, and a full collection walks every one of them: 160 ms on this project's 2-core
machine, with every Python thread (the gRPC and REST handlers) stopped meanwhile. One such
pass landed inside a Predict now and then, the 99th percentile of the Kafka benchmark.

After a version loads, what is alive is frozen (``gc.freeze``): moved to a permanent
generation that collections never walk. Reference counting still frees everything as before;
only cycles among frozen objects wait. So when a version is unloaded, the freeze is undone
and one full collection runs, freeing that version's cycles, before freezing again: one pause
per unload, none while serving.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["after_load", "after_unload"]

_lock = threading.Lock()


def after_load() -> None:
    """Freeze what is alive now (the loaded version among it)."""
    with _lock:
        gc.freeze()


def after_unload() -> None:
    """Collect what the unloaded version left in cycles, then freeze again."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
