"""Classify, Regress and MultiInference: TF Serving's tf.Example APIs, with its checks and texts.

An ``Input`` (``example_list``, or ``example_list_with_context`` where each example is the
context merged with it, as concatenated serialized protos merge) becomes one string tensor of
serialized ``tf.Example`` s, fed to the signature's single input; a classification signature
answers ``classes`` (string ``[batch, n]``) and/or ``scores`` (float ``[batch, n]``), a
regression signature one float ``[batch]`` or ``[batch, 1]`` output (classifier.cc,
regressor.cc, multi_inference.cc, util.cc). The REST form (``{"examples": [...],
"context": {...}}``) is built into the same ``Input`` proto first (json_tensor.cc), so both
front ends share every rule below.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
from tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2

from .errors import ServingError
from .servable import CLASSIFY_METHOD, REGRESS_METHOD, SERVING_DEFAULT, LoadedVersion, Signature
from .tensors import json_type

__all__ = ["examples_tensor", "classify", "regress", "multi_inference", "input_from_json",
           "classification_json", "regression_json"]

CLASSIFY_INPUTS, CLASSES, SCORES = "inputs", "classes", "scores"
REGRESS_INPUTS, REGRESS_OUTPUTS = "inputs", "outputs"
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1


def _debug(sig: Signature, lv: LoadedVersion) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(lv.signature_defs[sig.name])


def examples_tensor(inp: input_pb2.Input) -> np.ndarray:
    """The serialized examples of an ``Input`` (InputToSerializedExampleTensor)."""
    kind = inp.WhichOneof("kind")
    if kind == "example_list":
        rows = [ex.SerializeToString() for ex in inp.example_list.examples]
    elif kind == "example_list_with_context":
        ctx = inp.example_list_with_context.context.SerializeToString()
        rows = [ctx + ex.SerializeToString() for ex in inp.example_list_with_context.examples]
    else:
        rows = []
    if not rows:
        raise ServingError("INVALID_ARGUMENT", "Input is empty.")
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


def _signature_for(lv: LoadedVersion, name: str) -> Signature:
    name = name or SERVING_DEFAULT
    sig = lv.signatures.get(name)
    if sig is None or not sig.runnable:
        raise ServingError("INVALID_ARGUMENT", f"No signature was found with the name: {name}")
    return sig


def _preprocess_classification(lv: LoadedVersion, sig: Signature) -> None:
    if len(sig.inputs) != 1:
        raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise ServingError("INVALID_ARGUMENT", f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if CLASSIFY_INPUTS not in sig.inputs:
        raise ServingError("INVALID_ARGUMENT", f"No classification inputs found in SignatureDef: {_debug(sig, lv)}")
    if CLASSES not in sig.outputs and SCORES not in sig.outputs:
        raise ServingError(
            "INVALID_ARGUMENT",
            f'Expected classification signature outputs to contain at least one of "{CLASSES}" or '
            f'"{SCORES}". Signature was: {_debug(sig, lv)}',
        )


def _preprocess_regression(lv: LoadedVersion, sig: Signature) -> None:
    if len(sig.inputs) != 1:
        raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise ServingError("INVALID_ARGUMENT", "Expected one output Tensor.")
    if REGRESS_INPUTS not in sig.inputs:
        raise ServingError("INVALID_ARGUMENT", f"No regression inputs found in SignatureDef: {_debug(sig, lv)}")
    if REGRESS_OUTPUTS not in sig.outputs:
        raise ServingError("INVALID_ARGUMENT", f"No regression outputs found in SignatureDef: {_debug(sig, lv)}")


def _shape(a: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in a.shape) + "]"


def _dtype_name(a: np.ndarray) -> str:
    from tensorflow.core.framework import types_pb2

    from .tensors import dtype_of_array

    return types_pb2.DataType.Name(dtype_of_array(a))


def _classification_result(outputs: dict[str, np.ndarray], n: int, result) -> None:
    classes, scores = outputs.get(CLASSES), outputs.get(SCORES)
    for name, t, want in ((CLASSES, classes, "DT_STRING"), (SCORES, scores, "DT_FLOAT")):
        if t is None:
            continue
        if t.ndim != 2:
            raise ServingError("INVALID_ARGUMENT", f"Expected Tensor shape: [batch_size num_classes] but got {_shape(t)}")
        if _dtype_name(t) != want:
            raise ServingError("INVALID_ARGUMENT",
                               f"Expected {name} Tensor of {want}. Got: {_dtype_name(t)}")
        if t.shape[0] != n:
            raise ServingError("INVALID_ARGUMENT", f"Expected {name} output batch size of {n}. Got: {t.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}",
        )
    num_classes = (classes if classes is not None else scores).shape[1]
    for i in range(n):
        item = result.classifications.add()
        for c in range(num_classes):
            cl = item.classes.add()
            if classes is not None:
                label = classes[i, c]
                cl.label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            if scores is not None:
                cl.score = float(scores[i, c])


def _regression_result(outputs: dict[str, np.ndarray], n: int, result) -> None:
    t = outputs[REGRESS_OUTPUTS]
    if not (t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1)):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {_shape(t)}",
        )
    if t.shape[0] != n:
        raise ServingError("INVALID_ARGUMENT",
                           f"Input batch size did not match output batch size: {n} vs. {t.shape[0]}")
    if _dtype_name(t) != "DT_FLOAT":
        raise ServingError("INVALID_ARGUMENT", f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(t)}")
    for v in t.reshape(-1).tolist():
        result.regressions.add().value = v


def _run(lv: LoadedVersion, sig: Signature, examples: np.ndarray) -> dict[str, np.ndarray]:
    (alias,) = sig.inputs
    inputs = sig.check_inputs({alias: examples})
    return lv.predict(sig, inputs)


def _spec_out(spec, name: str, signature_name: str, version: int) -> None:
    spec.name = name
    spec.signature_name = signature_name or SERVING_DEFAULT
    spec.version.value = version


def classify(lv: LoadedVersion, name: str, signature_name: str, inp: input_pb2.Input):
    sig = _signature_for(lv, signature_name)
    _preprocess_classification(lv, sig)
    examples = examples_tensor(inp)
    response = classification_pb2.ClassificationResponse()
    outputs = _run(lv, sig, examples)
    _classification_result(outputs, len(examples), response.result)
    _spec_out(response.model_spec, name, signature_name, lv.version)
    return response


def regress(lv: LoadedVersion, name: str, signature_name: str, inp: input_pb2.Input):
    sig = _signature_for(lv, signature_name)
    _preprocess_regression(lv, sig)
    examples = examples_tensor(inp)
    response = regression_pb2.RegressionResponse()
    outputs = _run(lv, sig, examples)
    _regression_result(outputs, len(examples), response.result)
    _spec_out(response.model_spec, name, signature_name, lv.version)
    return response


def multi_inference(lv: LoadedVersion, request) -> inference_pb2.MultiInferenceResponse:
    """The tasks of a MultiInferenceRequest on one model version (multi_inference.cc)."""
    model_name = ""
    seen: set[str] = set()
    plan = []
    for task in request.tasks:
        if not task.model_spec.name:
            raise ServingError("INVALID_ARGUMENT", "Found ModelSpec with an empty model name.")
        if not model_name:
            model_name = task.model_spec.name
        elif model_name != task.model_spec.name:
            raise ServingError("INVALID_ARGUMENT",
                               "All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        signature_name = task.model_spec.signature_name or SERVING_DEFAULT
        if signature_name in seen:
            raise ServingError("INVALID_ARGUMENT", f"Duplicate evaluation of signature: {signature_name}")
        seen.add(signature_name)
        sig = lv.signatures.get(signature_name)
        if sig is None or not sig.runnable:
            raise ServingError("INVALID_ARGUMENT",
                               f"Requested signature not found in model graph: {signature_name}")
        if task.method_name == CLASSIFY_METHOD:
            _preprocess_classification(lv, sig)
        elif task.method_name == REGRESS_METHOD:
            _preprocess_regression(lv, sig)
        else:
            raise ServingError("UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}")
        plan.append((task, sig))
    examples = examples_tensor(request.input)
    response = inference_pb2.MultiInferenceResponse()
    outputs_of: dict[str, dict[str, np.ndarray]] = {}
    for task, sig in plan:
        if sig.name not in outputs_of:
            outputs_of[sig.name] = _run(lv, sig, examples)
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            _classification_result(outputs_of[sig.name], len(examples), result.classification_result)
        else:
            _regression_result(outputs_of[sig.name], len(examples), result.regression_result)
        _spec_out(result.model_spec, task.model_spec.name, task.model_spec.signature_name, lv.version)
    return response


# --------------------------------------------------------------------------- REST JSON


def _kind_error(name: str, feature) -> ServingError:
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(
        feature.WhichOneof("kind"), "UNKNOWN")
    return ServingError("INVALID_ARGUMENT", f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_value(value: Any, name: str, feature) -> None:
    kind = feature.WhichOneof("kind")
    if isinstance(value, bool):
        if kind not in (None, "int64_list"):
            raise _kind_error(name, feature)
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        if not (len(value) == 1 and isinstance(value.get("b64"), str)):
            raise ServingError("INVALID_ARGUMENT", f"Feature: {name} has element with unexpected JSON type: Object")
        if kind not in (None, "bytes_list"):
            raise _kind_error(name, feature)
        try:
            feature.bytes_list.value.append(base64.b64decode(value["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise ServingError("INVALID_ARGUMENT", "Unable to base64 decode") from None
    elif isinstance(value, str):
        if kind not in (None, "bytes_list"):
            raise _kind_error(name, feature)
        feature.bytes_list.value.append(value.encode("utf-8"))
    elif isinstance(value, float) or (isinstance(value, int) and not _INT64[0] <= value <= _UINT64_MAX):
        # rapidjson reads integers beyond (u)int64 as doubles
        if kind not in (None, "float_list"):
            raise _kind_error(name, feature)
        feature.float_list.value.append(_to_float(value))
    elif isinstance(value, int):
        if kind not in (None, "int64_list"):
            raise _kind_error(name, feature)
        if value > _INT64[1]:
            raise ServingError("INVALID_ARGUMENT", f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(value)
    else:
        raise ServingError("INVALID_ARGUMENT", f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")


def _to_float(value) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _example_from_json(value: Any, example) -> None:
    if not isinstance(value, dict):
        raise ServingError("INVALID_ARGUMENT", f"Example must be JSON object but got JSON {json_type(value)}")
    for name, content in value.items():
        feature = example.features.feature[name]
        if isinstance(content, list):
            for item in content:
                _add_value(item, name, feature)
        else:
            _add_value(content, name, feature)


def _debug_json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def input_from_json(doc: dict) -> tuple[str, input_pb2.Input]:
    """``{"signature_name", "context", "examples"}`` as (signature name, ``Input``)."""
    signature_name = doc.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"JSON Value: {_debug_json(doc)} not formatted correctly. 'signature_name' key must be a string value.",
        )
    inp = input_pb2.Input()
    has_context = "context" in doc
    if has_context:
        _example_from_json(doc["context"], inp.example_list_with_context.context)
    if "examples" not in doc:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"JSON Value: {_debug_json(doc)} When method is classify, key 'examples' is expected and was not found",
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise ServingError("INVALID_ARGUMENT",
                           f"JSON Value: {_debug_json(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise ServingError("INVALID_ARGUMENT", f"JSON Value: {_debug_json(doc)} 'examples' value is an empty array")
    target = inp.example_list_with_context.examples if has_context else inp.example_list.examples
    for value in examples:
        _example_from_json(value, target.add())
    return signature_name, inp


def classification_json(result) -> str:
    from .tensors import _format_decimal
    from tensorflow.core.framework import types_pb2

    if not result.classifications:
        raise ServingError("INVALID_ARGUMENT", "Cannot convert empty ClassificationResults to JSON")
    rows = []
    for item in result.classifications:
        pairs = [
            "[" + json.dumps(c.label, ensure_ascii=False) + ", "
            + _format_decimal(c.score, types_pb2.DT_FLOAT) + "]"
            for c in item.classes
        ]
        rows.append("[" + ", ".join(pairs) + "]")
    return '{\n    "results": [\n        ' + ",\n        ".join(rows) + "\n    ]\n}"


def regression_json(result) -> str:
    from .tensors import _format_decimal
    from tensorflow.core.framework import types_pb2

    if not result.regressions:
        raise ServingError("INVALID_ARGUMENT", "Cannot convert empty RegressionResults to JSON")
    values = ", ".join(_format_decimal(r.value, types_pb2.DT_FLOAT) for r in result.regressions)
    return '{\n    "results": [' + values + "]\n}"
