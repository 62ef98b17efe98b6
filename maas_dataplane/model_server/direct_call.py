"""How a signature's function is called: directly when that is proven safe, else as usual.

``ConcreteFunction.__call__`` binds keyword arguments to the function's type, flattens them,
checks each against its ``TensorSpec`` and hands the work to TensorFlow's inter-op thread
pool. For the small models a model server often serves, that bookkeeping and the two thread
hand-offs cost more than the model: 0.38 ms against 0.10 ms per call for the example model
when calls arrive with gaps between them, as a server's do (``benchmarks/serving_latency.py``
measures both paths side by side). The server has already checked every input's name and
dtype against the signature (``Signature.check_inputs``) and takes this path only for inputs
of the signature's declared shapes (``Signature.shapes_match``; other shapes, which TF Serving
passes on to TensorFlow, take the public call), so it can call the underlying graph function
with the flat list of tensors, and run it on the calling thread with TensorFlow's
single-threaded executor.

Both rest on TensorFlow internals (``_inference_function``, ``function_executor_type``), so
nothing is assumed: when a version loads, :func:`choose_call` calls the signature both ways
on a synthetic input (one row where the batch size is free; five calls at load, which
also warm the model up: one set-up call, three timed ones, the fastest of which counts, and
the direct one) and uses the direct path only if it returns exactly what the public
call returns. Models whose call takes longer than :data:`DIRECT_MAX_SECONDS` keep the usual
path, which lets independent branches of a large graph run in parallel.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

__all__ = ["DIRECT_MAX_SECONDS", "Call", "choose_call"]

Call = Callable[[dict[str, Any]], dict[str, Any]]
"""Feeds (alias -> tf.Tensor) to outputs (alias -> tf.Tensor)."""

DIRECT_MAX_SECONDS = 0.005
"""Above this per call, thread hand-offs no longer matter and inter-op parallelism may."""

TIMED_CALLS = 3
"""Public calls timed at load; the fastest counts."""

SINGLE_THREADED_EXECUTOR = "SINGLE_THREADED_EXECUTOR"


def _public_call(function) -> Call:
    """The documented path: ``function(**feeds)``."""
    return lambda feeds: function(**feeds)


def _direct_call(function) -> Call | None:
    """The graph function called with flat tensors on the calling thread, or None when the
    function is not the plain shape this needs (keyword inputs only, a flat dict out)."""
    from tensorflow.python.eager import context

    try:
        atomic = function._inference_function
        captured = list(function.captured_inputs)
        args, kwargs = function.structured_input_signature
        outputs = function.structured_outputs
        call_flat = atomic.call_flat
    except (AttributeError, TypeError, ValueError):
        return None
    if args or not isinstance(kwargs, dict) or not isinstance(outputs, dict):
        return None
    if len(function.inputs) != len(kwargs) + len(captured):
        return None
    # Flattening sorts dict keys: this is the order ConcreteFunction itself passes them in.
    in_order, out_order = sorted(kwargs), sorted(outputs)

    def call(feeds: dict[str, Any]) -> dict[str, Any]:
        with context.function_executor_type(SINGLE_THREADED_EXECUTOR):
            flat = call_flat(*[feeds[k] for k in in_order], *captured)
        return dict(zip(out_order, flat))

    return call


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        x, y = a[key].numpy(), b[key].numpy()
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
            return False
    return True


def choose_call(function, sample: dict[str, Any] | None) -> tuple[Call, str]:
    """The call to use for ``function`` and why, checked on ``sample`` (feeds built from the
    signature; None when no sample can be made, which keeps the public path)."""
    public = _public_call(function)
    direct = _direct_call(function)
    if direct is None:
        return public, "public call: the function's inputs or outputs are not a flat dict"
    if sample is None:
        return public, "public call: no sample input can be built from the signature"
    try:
        public(sample)  # the first call pays one-off set-up; time the next ones
        took = float("inf")
        for _ in range(TIMED_CALLS):  # the fastest: a busy machine's pauses are not the model's
            start = time.perf_counter()
            expected = public(sample)
            took = min(took, time.perf_counter() - start)
    except Exception:  # noqa: BLE001 - a model may reject a synthetic input; then no proof
        return public, "public call: the model rejects a synthetic input, so the direct call is unproven"
    if took > DIRECT_MAX_SECONDS:
        return public, f"public call: {took * 1000:.1f} ms per call, above {DIRECT_MAX_SECONDS * 1000:g} ms"
    try:
        same = _same(direct(sample), expected)
    except Exception:  # noqa: BLE001 - any failure of the internal path means: do not use it
        same = False
    if not same:
        return public, "public call: the direct call does not return the same outputs"
    return direct, "direct call on the calling thread"
