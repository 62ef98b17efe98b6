"""Garbage-collector settings for the process that runs the Pulumi program.

A Pulumi program builds thousands of objects that live until it exits (resources, their
outputs, futures and tasks), then waits for the engine. CPython's cyclic collector
traverses every one of them again on each older-generation pass, so construction time grew
faster than the number of models (``benchmarks/program_scaling.py``: 21 ms per model at 10
models, 28 ms at 200). Freezing what exists when the program starts and collecting young
objects less often keeps it linear. Reference counting still frees almost everything as
before; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_for_long_lived_objects"]

YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation passes (CPython's default is 700)."""


def tune_for_long_lived_objects() -> None:
    """Move every object alive now out of the collector's reach and collect less often.

    Idempotent; call it once the modules are imported, before declaring resources.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
