"""Server-side request batching, with TF Serving's ``BatchingParameters``.

Concurrent predict calls on the same version and signature are queued; batch threads merge
queued tasks along dimension 0 (up to ``max_batch_size`` rows, waiting at most
``batch_timeout_micros`` after the oldest task for more), run the signature once, and split the
outputs back. A task larger than ``max_batch_size`` is refused (or split, with
``enable_large_batch_splitting``); when ``max_enqueued_batches`` batches are already waiting,
new tasks are refused with UNAVAILABLE, as TF Serving's shared batch scheduler does.
``allowed_batch_sizes`` pads a batch up to the next allowed size.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import ServingError

__all__ = ["BatchingParameters", "Batcher", "parse_batching_parameters"]


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's ``session_bundle_config.proto`` BatchingParameters (defaults as there)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be positive")
        if self.num_batch_threads < 1:
            raise ValueError("num_batch_threads must be positive")
        if self.allowed_batch_sizes:
            sizes = list(self.allowed_batch_sizes)
            if sizes != sorted(sizes) or sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "allowed_batch_sizes must be increasing and its last entry must equal "
                    "max_batch_size"
                )


_WRAPPED = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
            "num_batch_threads", "thread_pool_name", "enable_large_batch_splitting"}
_KNOWN = _WRAPPED | {"allowed_batch_sizes", "pad_variable_length_inputs",
                     "max_execution_batch_size"}


def parse_batching_parameters(text: str) -> BatchingParameters:
    """Parse the text-proto file given to ``--batching_parameters_file``.

    ``max_batch_size { value: 32 }``, ``allowed_batch_sizes: 8``, ``pad_variable_length_inputs:
    true``; ``#`` comments. Unknown fields are an error naming the field (as protobuf's text
    parser would).
    """
    values: dict[str, object] = {}
    allowed: list[int] = []
    stripped = re.sub(r"#[^\n]*", "", text)
    token = re.compile(
        r"\s*(?:(?P<wrapped>\w+)\s*:?\s*\{\s*value\s*:\s*(?P<wval>\"[^\"]*\"|[^\s}]+)\s*\}"
        r"|(?P<plain>\w+)\s*:\s*(?P<pval>\"[^\"]*\"|[^\s,;]+))\s*[,;]?",
    )
    pos = 0
    while pos < len(stripped):
        if not stripped[pos:].strip():
            break
        m = token.match(stripped, pos)
        if not m:
            snippet = stripped[pos:].strip().splitlines()[0]
            raise ValueError(f"cannot parse batching parameters near: {snippet!r}")
        pos = m.end()
        name = m.group("wrapped") or m.group("plain")
        raw = m.group("wval") if m.group("wrapped") else m.group("pval")
        if name not in _KNOWN:
            raise ValueError(
                f'Message type "tensorflow.serving.BatchingParameters" has no field named "{name}".'
            )
        if name == "thread_pool_name":
            values[name] = raw.strip('"')
        elif name in ("pad_variable_length_inputs", "enable_large_batch_splitting"):
            values[name] = raw.lower() in ("true", "1", "t")
        elif name == "allowed_batch_sizes":
            allowed.append(int(raw))
        elif name == "max_execution_batch_size":
            continue  # only meaningful with large-batch splitting in TF Serving; accepted
        else:
            values[name] = int(raw)
    if allowed:
        values["allowed_batch_sizes"] = tuple(allowed)
    return BatchingParameters(**values)  # type: ignore[arg-type]


class _Task:
    __slots__ = ("inputs", "rows", "key", "future", "enqueued")

    def __init__(self, inputs: dict[str, np.ndarray], rows: int, key: tuple) -> None:
        self.inputs = inputs
        self.rows = rows
        self.key = key
        self.future: Future = Future()
        self.enqueued = time.monotonic()


class Batcher:
    """A queue plus batch threads in front of one ``run(inputs) -> outputs`` function."""

    def __init__(
        self,
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        params: BatchingParameters,
        name: str = "batcher",
    ) -> None:
        self._run = run
        self.params = params
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self.batches_run = 0
        self.largest_batch = 0
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
            for i in range(params.num_batch_threads)
        ]
        for t in self._threads:
            t.start()

    # -- submitting ---------------------------------------------------------------------
    def submit(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``inputs`` as part of a batch; blocks until its own outputs are ready."""
        rows = _rows(inputs)
        if rows is None:
            return self._run(inputs)  # scalars or ragged batch dims cannot be merged
        p = self.params
        if rows > p.max_batch_size:
            if not p.enable_large_batch_splitting:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Task size {rows} is larger than maximum input batch size {p.max_batch_size}",
                )
            return self._split(inputs, rows)
        key = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))
        task = _Task(inputs, rows, key)
        with self._cond:
            queued = not self._closed
            if queued:
                if self._queued_rows + rows > p.max_enqueued_batches * p.max_batch_size:
                    raise ServingError(
                        "UNAVAILABLE",
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                self._queue.append(task)
                self._queued_rows += rows
                self._cond.notify()
        if not queued:  # the version is being unloaded: finish this request on it directly
            return self._run(inputs)
        return task.future.result()

    def _split(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        step = self.params.max_batch_size
        parts = [self.submit({k: v[i : i + step] for k, v in inputs.items()}) for i in range(0, rows, step)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    # -- batch threads ------------------------------------------------------------------
    def _take_batch(self) -> list[_Task] | None:
        p = self.params
        timeout = p.batch_timeout_micros / 1e6
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            head = self._queue[0]
            deadline = head.enqueued + timeout
            while True:
                rows = sum(t.rows for t in self._queue if t.key == head.key)
                remaining = deadline - time.monotonic()
                if rows >= p.max_batch_size or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
                if not self._queue or self._queue[0] is not head:
                    # another batch thread took the head: start over with the new one
                    return []
            batch, kept, total = [], collections.deque(), 0
            while self._queue:
                t = self._queue.popleft()
                if t.key == head.key and total + t.rows <= p.max_batch_size:
                    batch.append(t)
                    total += t.rows
                else:
                    kept.append(t)
            self._queue = kept
            self._queued_rows -= total
            for t in batch:
                t.future.set_running_or_notify_cancel()
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._process(batch)

    def _process(self, batch: list[_Task]) -> None:
        try:
            total = sum(t.rows for t in batch)
            if len(batch) == 1 and not self.params.allowed_batch_sizes:
                merged = batch[0].inputs
            else:
                merged = {k: np.concatenate([t.inputs[k] for t in batch]) for k in batch[0].inputs}
            padded = _pad(merged, total, self.params.allowed_batch_sizes)
            outputs = self._run(padded)
            self.batches_run += 1
            self.largest_batch = max(self.largest_batch, total)
            offset = 0
            for t in batch:
                part = {}
                for k, v in outputs.items():
                    if getattr(v, "ndim", 0) == 0 or v.shape[0] != len(next(iter(padded.values()))):
                        raise ServingError(
                            "FAILED_PRECONDITION",
                            f"Batched output tensor '{k}' does not have the batch size as its "
                            "0th dimension; disable batching for this model",
                        )
                    part[k] = v[offset : offset + t.rows]
                offset += t.rows
                t.future.set_result(part)
        except BaseException as err:  # every waiting caller must hear about the failure
            for t in batch:
                if not t.future.done():
                    t.future.set_exception(err)

    def close(self) -> None:
        """Stop taking new tasks; queued ones still run, then the threads end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _rows(inputs: dict[str, np.ndarray]) -> int | None:
    sizes = {v.shape[0] if v.ndim else None for v in inputs.values()}
    if len(sizes) != 1:
        return None
    (size,) = sizes
    return size if size else None


def _pad(inputs: dict[str, np.ndarray], rows: int, allowed: tuple[int, ...]) -> dict[str, np.ndarray]:
    if not allowed:
        return inputs
    target = next((s for s in allowed if s >= rows), rows)
    if target == rows:
        return inputs
    return {k: np.concatenate([v, np.repeat(v[:1], target - rows, axis=0)]) for k, v in inputs.items()}
