"""One loaded model version: the SavedModel's signatures, callable on numpy inputs.

Signatures are read from ``saved_model.pb`` itself (the ``serve`` meta graph), so metadata
lists exactly what TF Serving lists, ``__saved_model_init_op`` included. How a version runs
depends on what it is:

* **TF2 SavedModels** (an object graph, as ``tf.saved_model.save`` writes) load with
  ``tf.saved_model.load`` and run the signature's concrete function, called the way
  :mod:`.direct_call` chose when the version loaded. The direct call was proven on inputs of
  the signature's shapes, so an input of any other shape takes the public call instead.
* **TF1 SavedModels** (graph-mode ``SavedModelBuilder`` exports: Estimator exports with a
  serialized ``tf.Example`` placeholder, reference variables, ``main_op``/``legacy_init_op``)
  load as TF Serving loads every model: ``tf.compat.v1.saved_model.loader.load`` into a
  ``tf.compat.v1.Session`` with its own graph, and run as one session call per request that
  feeds and fetches the signature's tensor names.
* **TFLite**: with ``--prefer_tflite_model`` and a ``model.tflite`` in the version directory,
  ``tf.lite.Interpreter`` runs it; its signatures are the TFLite model's signature runners.

Inputs are checked for names and dtypes (TF Serving's texts); shapes are TensorFlow's to
judge, as in TF Serving: an input whose shape differs from the signature's declared shape is
passed on, and only TensorFlow's own refusal (INVALID_ARGUMENT) is reported.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import log
from .direct_call import choose_call
from .errors import ServingError
from .tensors import NP_DTYPES, dtype_name

__all__ = ["Signature", "LoadedVersion", "SERVING_DEFAULT", "PREDICT_METHODS", "CLASSIFY_METHOD",
           "REGRESS_METHOD", "TFLITE_FILE", "has_model_files"]

SERVING_DEFAULT = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"
PREDICT_METHODS = {PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD}
TFLITE_FILE = "model.tflite"


def has_model_files(path: str, prefer_tflite: bool = False) -> bool:
    """Whether a version directory holds something loadable (the manager waits until it does)."""
    names = ("saved_model.pb", "saved_model.pbtxt") + ((TFLITE_FILE,) if prefer_tflite else ())
    return any(os.path.isfile(os.path.join(path, n)) for n in names)


@dataclass(frozen=True)
class TensorSpec:
    name: str  # alias in the signature
    dtype: int
    shape: tuple[int, ...] | None  # None: unknown rank; -1: unknown dim
    tensor_name: str = ""  # the graph tensor (session-based and TFLite versions)


@dataclass
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    function: Any = field(default=None, repr=False)
    call: Any = field(default=None, repr=False)  # direct_call.Call chosen at load
    call_path: str = ""  # which call, and why
    public_call: Any = field(default=None, repr=False)
    runner: Any = field(default=None, repr=False)  # session callable / TFLite runner

    @property
    def input_dtypes(self) -> dict[str, int]:
        return {k: v.dtype for k, v in self.inputs.items()}

    @property
    def runnable(self) -> bool:
        return self.function is not None or self.runner is not None

    def shapes_match(self, tensors: dict[str, np.ndarray]) -> bool:
        """Every input has the signature's declared shape (any size where it says -1)."""
        for alias, array in tensors.items():
            want = self.inputs[alias].shape
            if want is None or not _compatible(array.shape, want):
                return False
        return True

    def check_inputs(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Names and dtypes against the signature, with TF Serving's texts (shapes are
        TensorFlow's to judge when the signature runs)."""
        if len(tensors) != len(self.inputs):
            sent, want = sorted(tensors), sorted(self.inputs)
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(sent)}!={len(want)} "
                f"len({{{','.join(sent)}}}) != len({{{','.join(want)}}}). "
                f"Sent extra: {{{','.join(sorted(set(sent) - set(want)))}}}. "
                f"Missing but required: {{{','.join(sorted(set(want) - set(sent)))}}}.",
            )
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
        return tensors


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


def _spec(alias: str, info) -> TensorSpec:
    shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
    return TensorSpec(alias, info.dtype, shape, info.name)


_TF_NOISE = re.compile(
    r"^(Graph execution error:|Detected at node .*|<stack traces unavailable>|"
    r"Detected unsupported operations.*)$"
)


def tf_error(err: Exception) -> ServingError:
    """TensorFlow's own error as TF Serving reports it: its code and its message, without the
    Python runtime's decorations (stack-trace headers, the ``[Op:...]`` suffix)."""
    from .errors import error_code_of

    message = getattr(err, "message", None) or str(err)
    for marker in ("\n\nErrors may have originated", "\n\nOriginal stack trace"):
        message = message.split(marker, 1)[0]
    lines = [ln for ln in message.splitlines() if not _TF_NOISE.match(ln.strip())]
    text = "\n".join(lines).strip()
    text = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", text) or message.strip()
    code = error_code_of(err)
    if code in ("UNKNOWN", "OK"):
        code = "INVALID_ARGUMENT" if isinstance(err, (TypeError, ValueError)) else "INTERNAL"
    return ServingError(code, text)


def _read_saved_model(path: str):
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    if os.path.exists(pb):
        with open(pb, "rb") as fh:
            saved_model.ParseFromString(fh.read())
    else:
        from google.protobuf import text_format

        with open(os.path.join(path, "saved_model.pbtxt")) as fh:
            text_format.Parse(fh.read(), saved_model)
    return saved_model


class LoadedVersion:
    """A model version ready to serve. Construction loads it; failures raise."""

    def __init__(self, model_name: str, version: int, path: str, *, prefer_tflite: bool = False,
                 session_config: Any = None) -> None:
        import tensorflow as tf

        self.model_name = model_name
        self.version = version
        self.path = path
        self._tf = tf
        self.batching = None  # BatchingParameters when --enable_batching; set by the manager
        self._batchers: dict[str, Any] = {}
        self._batchers_lock = threading.Lock()
        self._session = None
        if prefer_tflite and os.path.isfile(os.path.join(path, TFLITE_FILE)):
            self.kind = "tflite"
            self._load_tflite(os.path.join(path, TFLITE_FILE))
            return
        saved_model = _read_saved_model(path)
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
        self.signatures: dict[str, Signature] = {
            name: Signature(
                name=name,
                method_name=sig_def.method_name,
                inputs={k: _spec(k, v) for k, v in sig_def.inputs.items()},
                outputs={k: _spec(k, v) for k, v in sig_def.outputs.items()},
            )
            for name, sig_def in self.signature_defs.items()
        }
        if len(meta_graph.object_graph_def.nodes):
            self.kind = "tf2"
            self._load_tf2(path)
        else:
            self.kind = "session"
            self._load_session(path, session_config)
        log.info("saved_model", f"{model_name} version {version}: {self.kind} SavedModel "
                 f"({'concrete functions' if self.kind == 'tf2' else 'tf.compat.v1 Session'})")

    # ------------------------------------------------------------------ loaders
    def _load_tf2(self, path: str) -> None:
        tf = self._tf
        self._loaded = tf.saved_model.load(path, tags=["serve"])
        for name, sig in self.signatures.items():
            function = self._loaded.signatures.get(name) if name != "__saved_model_init_op" else None
            if function is None:
                continue
            sig.function = function
            sample = _sample_inputs(sig)
            sig.call, sig.call_path = choose_call(function, None if sample is None else self._feeds(sample))
            sig.public_call = lambda feeds, _f=function: _f(**feeds)
            log.info("saved_model", f"Signature {sig.name!r} of {self.model_name} version "
                     f"{self.version}: {sig.call_path}")

    def _load_session(self, path: str, session_config: Any) -> None:
        tf = self._tf
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=session_config)
        try:
            with graph.as_default():
                tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        except Exception:
            session.close()
            raise
        self._session = session
        for sig in self.signatures.values():
            if sig.name == "__saved_model_init_op" or not sig.outputs:
                continue
            try:
                sig.runner = _session_callable(
                    session,
                    [sig.inputs[a].tensor_name for a in sorted(sig.inputs)],
                    [sig.outputs[a].tensor_name for a in sorted(sig.outputs)],
                )
            except (KeyError, ValueError, tf.errors.OpError) as err:
                log.warning("saved_model", f"Signature {sig.name!r} of {self.model_name} version "
                            f"{self.version} names a tensor the graph lacks ({err}); not servable")
                continue
            sig.call_path = "session call"

    def _load_tflite(self, model_path: str) -> None:
        tf = self._tf
        from tensorflow.core.protobuf import meta_graph_pb2

        interpreter = tf.lite.Interpreter(model_path=model_path)
        self._interpreter = interpreter
        self._tflite_lock = threading.Lock()  # one interpreter: one invocation at a time
        self.signature_defs = {}
        self.signatures = {}
        listed = interpreter.get_signature_list()
        if not listed:
            raise ServingError("FAILED_PRECONDITION",
                               f"{model_path} has no signatures; convert it with signature defs")
        for key in listed:
            runner = interpreter.get_signature_runner(key)
            sig_def = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
            inputs, outputs = {}, {}
            for group, details, proto_map in (
                (inputs, runner.get_input_details(), sig_def.inputs),
                (outputs, runner.get_output_details(), sig_def.outputs),
            ):
                for alias, d in details.items():
                    dt = tf.dtypes.as_dtype(d["dtype"]).as_datatype_enum
                    shape = tuple(int(s) for s in d.get("shape_signature", d["shape"]))
                    info = proto_map[alias]
                    info.name, info.dtype = d["name"], dt
                    for s in shape:
                        info.tensor_shape.dim.add().size = s
                    group[alias] = TensorSpec(alias, dt, shape, d["name"])
            self.signature_defs[key] = sig_def
            self.signatures[key] = Signature(key, PREDICT_METHOD, inputs, outputs, runner=runner,
                                             call_path="tflite signature runner")
        log.info("saved_model", f"{self.model_name} version {self.version}: TFLite model "
                 f"{model_path}, signatures {sorted(listed)}")

    # ------------------------------------------------------------------ lookups
    def signature(self, name: str, *, rest: bool = False) -> Signature:
        name = name or SERVING_DEFAULT
        sig = self.signatures.get(name)
        if sig is None or not sig.runnable:
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

    # ------------------------------------------------------------------ running
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
        """Call the signature on dtype-checked inputs; returns every output."""
        tf = self._tf
        try:
            if sig.runner is not None:
                if self.kind == "tflite":
                    with self._tflite_lock:
                        result = sig.runner(**inputs)
                    return {k: np.array(v) for k, v in result.items()}
                flat = sig.runner(*[_session_feed(inputs[a]) for a in sorted(sig.inputs)])
                return dict(zip(sorted(sig.outputs), flat))
            if sig.function is None:
                raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{sig.name}" not found.')
            call = sig.call if sig.shapes_match(inputs) else sig.public_call
            result = call(self._feeds(inputs))
        except ServingError:
            raise
        except (tf.errors.OpError, TypeError, ValueError, RuntimeError) as err:
            raise tf_error(err) from None
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


def _session_feed(array: np.ndarray) -> np.ndarray:
    return array


def _session_callable(session, feeds: list[str], fetches: list[str]):
    """``Session::MakeCallable`` on tensor names, as TF Serving's ``Session::Run`` feeds and
    fetches them: the C++ session checks what it must (dtypes; shapes where an op needs
    them), not the Python client's stricter "value of shape ... for Tensor" rule."""
    from tensorflow.core.protobuf import config_pb2

    for name in feeds + fetches:
        session.graph.get_tensor_by_name(name)  # KeyError/ValueError: not in the graph
    options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
    make = getattr(session, "_make_callable_from_options", None)
    if make is None:  # pragma: no cover - older/newer TensorFlow without the C++ callable
        graph = session.graph
        return session.make_callable([graph.get_tensor_by_name(n) for n in fetches],
                                     feed_list=[graph.get_tensor_by_name(n) for n in feeds])
    return make(options)
