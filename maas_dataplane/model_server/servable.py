"""One loaded model version: the SavedModel's signatures, callable on numpy inputs.

Signatures are read from ``saved_model.pb`` itself (the ``serve`` meta graph), so metadata
lists exactly what TF Serving lists, ``__saved_model_init_op`` included; inference goes
through TensorFlow's SavedModel loader (``tf.saved_model.load``) and the signature's
concrete function, called the way :mod:`.direct_call` chose when the version loaded.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import log
from .direct_call import choose_call
from .errors import ServingError
from .tensors import NP_DTYPES, dtype_name

__all__ = ["Signature", "LoadedVersion", "SERVING_DEFAULT", "PREDICT_METHODS"]

SERVING_DEFAULT = "serving_default"
PREDICT_METHODS = {
    "tensorflow/serving/predict",
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
}


@dataclass(frozen=True)
class TensorSpec:
    name: str  # alias in the signature
    dtype: int
    shape: tuple[int, ...] | None  # None: unknown rank; -1: unknown dim


@dataclass
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    function: Any = field(default=None, repr=False)
    call: Any = field(default=None, repr=False)  # direct_call.Call chosen at load
    call_path: str = ""  # which call, and why

    @property
    def input_dtypes(self) -> dict[str, int]:
        return {k: v.dtype for k, v in self.inputs.items()}

    def check_inputs(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Names, dtypes and shapes against the signature, with TF Serving's texts."""
        if len(tensors) != len(self.inputs):
            sent, want = sorted(tensors), sorted(self.inputs)
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(sent)}!={len(want)} "
                f"len({{{','.join(sent)}}}) != len({{{','.join(want)}}}). "
                f"Sent extra: {{{','.join(sorted(set(sent) - set(want)))}}}. "
                f"Missing but required: {{{','.join(sorted(set(want) - set(sent)))}}}.",
            )
        checked = {}
        for index, (alias, array) in enumerate(sorted(tensors.items())):
            spec = self.inputs.get(alias)
            if spec is None:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in "
                    f"the set {{{','.join(sorted(self.inputs))}}}.",
                )
            want = NP_DTYPES.get(spec.dtype)
            if array.dtype != want and not (want == object and array.dtype.kind in "SO"):
                from .tensors import dtype_of_array

                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expects arg[{index}] to be {dtype_name(spec.dtype)} but "
                    f"{dtype_name(dtype_of_array(array))} is provided",
                )
            if spec.shape is not None and not _compatible(array.shape, spec.shape):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Input tensor '{alias}' has shape {_shape_text(array.shape)} but signature "
                    f"'{self.name}' expects {_shape_text(spec.shape)} (-1 is any size)",
                )
            checked[alias] = array
        return checked


def _sample_inputs(sig: Signature) -> dict[str, np.ndarray] | None:
    """Zeros (empty strings) of the signature's dtypes and shapes, any-size dims as 1; None
    when a shape or dtype is unknown."""
    sample = {}
    for alias, spec in sig.inputs.items():
        dtype = NP_DTYPES.get(spec.dtype)
        if spec.shape is None or dtype is None:
            return None
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        sample[alias] = np.full(shape, b"", dtype=object) if dtype == object else np.zeros(shape, dtype)
    return sample


def _compatible(shape: tuple[int, ...], want: tuple[int, ...]) -> bool:
    return len(shape) == len(want) and all(w < 0 or w == s for s, w in zip(shape, want))


def _shape_text(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def _spec(alias: str, info) -> TensorSpec:
    shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
    return TensorSpec(alias, info.dtype, shape)


class LoadedVersion:
    """A SavedModel version ready to serve. Construction loads it; failures raise."""

    def __init__(self, model_name: str, version: int, path: str) -> None:
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.model_name = model_name
        self.version = version
        self.path = path
        pb = os.path.join(path, "saved_model.pb")
        saved_model = saved_model_pb2.SavedModel()
        if os.path.exists(pb):
            with open(pb, "rb") as fh:
                saved_model.ParseFromString(fh.read())
        else:
            from google.protobuf import text_format

            with open(os.path.join(path, "saved_model.pbtxt")) as fh:
                text_format.Parse(fh.read(), saved_model)
        meta_graph = next(
            (mg for mg in saved_model.meta_graphs if "serve" in mg.meta_info_def.tags), None
        )
        if meta_graph is None:
            raise ServingError(
                "NOT_FOUND",
                f"Could not find meta graph def matching supplied tags: {{ serve }}. To inspect "
                f"available tag-sets in the SavedModel, please use the SavedModel CLI: "
                f"`saved_model_cli`",
            )
        self.signature_defs = meta_graph.signature_def
        self._loaded = tf.saved_model.load(path, tags=["serve"])
        self.signatures: dict[str, Signature] = {}
        for name, sig_def in self.signature_defs.items():
            function = self._loaded.signatures.get(name) if name != "__saved_model_init_op" else None
            self.signatures[name] = Signature(
                name=name,
                method_name=sig_def.method_name,
                inputs={k: _spec(k, v) for k, v in sig_def.inputs.items()},
                outputs={k: _spec(k, v) for k, v in sig_def.outputs.items()},
                function=function,
            )
        self._tf = tf
        for sig in self.signatures.values():
            if sig.function is not None:
                sample = _sample_inputs(sig)
                sig.call, sig.call_path = choose_call(sig.function, None if sample is None else self._feeds(sample))
                log.info("saved_model", f"Signature {sig.name!r} of {model_name} version {version}: {sig.call_path}")
        self.batching = None  # BatchingParameters when --enable_batching; set by the manager
        self._batchers: dict[str, Any] = {}
        self._batchers_lock = threading.Lock()

    def signature(self, name: str, *, rest: bool = False) -> Signature:
        name = name or SERVING_DEFAULT
        sig = self.signatures.get(name)
        if sig is None or sig.function is None:
            if rest:
                raise ServingError(
                    "INVALID_ARGUMENT", f'Serving signature name: "{name}" not found in signature def'
                )
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        if sig.method_name and sig.method_name not in PREDICT_METHODS:
            raise ServingError(
                "INTERNAL",
                "Expected prediction signature method_name to be one of "
                "{tensorflow/serving/predict, tensorflow/serving/classify, "
                f"tensorflow/serving/regress}}. Was: {sig.method_name}",
            )
        return sig

    def _feeds(self, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        tf = self._tf
        feeds = {}
        for k, v in inputs.items():
            if v.dtype == object:
                feeds[k] = tf.constant(v.tolist() if v.ndim else v.item(), dtype=tf.string)
            else:
                feeds[k] = tf.constant(v)
        return feeds

    def run(self, sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature on already-checked inputs; returns every output."""
        tf = self._tf
        feeds = self._feeds(inputs)
        try:
            result = sig.call(feeds)
        except tf.errors.OpError as err:
            from .errors import error_code_of

            raise ServingError(error_code_of(err), err.message) from None
        except (TypeError, ValueError) as err:
            raise ServingError("INVALID_ARGUMENT", str(err).splitlines()[0]) from None
        return {k: v.numpy() for k, v in result.items()}

    def predict(self, sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run through the signature's batcher when batching is on, else directly."""
        if self.batching is None:
            return self.run(sig, inputs)
        batcher = self._batchers.get(sig.name)
        if batcher is None:
            from .batching import Batcher

            with self._batchers_lock:
                batcher = self._batchers.get(sig.name)
                if batcher is None:
                    batcher = Batcher(
                        lambda feeds, _sig=sig: self.run(_sig, feeds),
                        self.batching,
                        name=f"batch-{self.model_name}-{self.version}-{sig.name}",
                    )
                    self._batchers[sig.name] = batcher
        return batcher.submit(inputs)

    def close(self) -> None:
        # Requests already holding this version finish on it; the SavedModel is freed when
        # the last of them lets go.
        with self._batchers_lock:
            for batcher in self._batchers.values():
                batcher.close()
