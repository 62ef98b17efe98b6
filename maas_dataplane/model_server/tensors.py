"""Tensors between numpy, ``TensorProto`` (gRPC) and TF Serving's JSON (REST).

The JSON side follows ``tensorflow_serving/util/json_tensor.cc``: request values are checked
against the signature's dtype with the same rules and error texts (``JSON Value: "a" Type:
String is not of expected type: float``), floats are written the way TF Serving writes them
(shortest text that round-trips the value's own precision, whole numbers with ``.0``, NaN and
±Infinity as bare words), and ``DT_STRING`` outputs whose name ends in ``_bytes`` are written
as ``{"b64": …}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from .errors import ServingError

__all__ = [
    "NP_DTYPES",
    "dtype_name",
    "tensor_from_proto",
    "tensor_to_proto",
    "json_to_tensor",
    "instances_to_tensors",
    "inputs_to_tensors",
    "predictions_json",
    "outputs_json",
]

# DataType enum -> numpy dtype. DT_STRING is carried as an object array of ``bytes``.
NP_DTYPES: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
    types_pb2.DT_STRING: np.dtype(object),
}
_DT_OF_NP = {v: k for k, v in NP_DTYPES.items() if k != types_pb2.DT_STRING}

# Which repeated field of TensorProto holds the values of each dtype (AsProtoField).
_VAL_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


def dtype_name(dtype: int) -> str:
    """``DT_FLOAT`` -> ``float``, as TensorFlow's ``DataTypeString`` prints it."""
    try:
        name = types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"unknown dtype enum ({dtype})"
    name = name[3:].lower() if name.startswith("DT_") else name.lower()
    return name.replace("_ref", "_ref")


# --------------------------------------------------------------------------- TensorProto


def tensor_from_proto(proto: tensor_pb2.TensorProto, alias: str) -> np.ndarray:
    """Decode a request tensor; malformed ones fail as TF Serving's ``tensor parsing error``."""
    np_dtype = NP_DTYPES.get(proto.dtype)
    if np_dtype is None:
        raise ServingError("INVALID_ARGUMENT", f"tensor parsing error: {alias}")
    if proto.tensor_shape.unknown_rank:
        raise ServingError("INVALID_ARGUMENT", f"tensor parsing error: {alias}")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise ServingError("INVALID_ARGUMENT", f"tensor parsing error: {alias}")
    count = math.prod(shape)
    try:
        if proto.tensor_content and proto.dtype != types_pb2.DT_STRING:
            flat = np.frombuffer(proto.tensor_content, dtype=np_dtype)
            if flat.size != count:
                raise ValueError("size")
            return flat.reshape(shape)
        field = _VAL_FIELD[proto.dtype]
        values = getattr(proto, field)
        n = len(values)
        if proto.dtype == types_pb2.DT_STRING:
            flat = np.empty(n, dtype=object)
            flat[:] = list(values)
        elif proto.dtype == types_pb2.DT_HALF:
            flat = np.asarray(values, dtype=np.uint16).view(np.float16)
        else:
            flat = np.asarray(values, dtype=np_dtype)
        if n == count:
            return flat.reshape(shape)
        if n > count:
            raise ValueError("too many values")
        # TensorFlow's FromProto: no values means zeros; fewer values repeat the last one.
        if n == 0:
            out = np.zeros(count, dtype=np_dtype) if proto.dtype != types_pb2.DT_STRING else np.array([b""] * count, dtype=object)
        else:
            out = np.empty(count, dtype=np_dtype)
            out[:n] = flat
            out[n:] = flat[-1]
        return out.reshape(shape)
    except ServingError:
        raise
    except Exception:
        raise ServingError("INVALID_ARGUMENT", f"tensor parsing error: {alias}") from None


def tensor_to_proto(array: np.ndarray, dtype: int) -> tensor_pb2.TensorProto:
    """Encode a response tensor with its values in the typed field (TF Serving's default)."""
    proto = tensor_pb2.TensorProto(dtype=dtype)
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = int(size)
    flat = array.reshape(-1)
    if dtype == types_pb2.DT_STRING:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    elif dtype == types_pb2.DT_HALF:
        proto.half_val.extend(flat.astype(np.float16).view(np.uint16).tolist())
    else:
        getattr(proto, _VAL_FIELD[dtype]).extend(flat.tolist())
    return proto


def dtype_of_array(array: np.ndarray) -> int:
    if array.dtype == object or array.dtype.kind in "SU":
        return types_pb2.DT_STRING
    return _DT_OF_NP.get(array.dtype, types_pb2.DT_INVALID)


# --------------------------------------------------------------------------- JSON in

_FLOAT_MAX_INT = {types_pb2.DT_FLOAT: (1 << 24) - 1, types_pb2.DT_DOUBLE: (1 << 53) - 1,
                  types_pb2.DT_HALF: (1 << 11) - 1}
_FLOAT_MAX = {types_pb2.DT_FLOAT: float(np.finfo(np.float32).max),
              types_pb2.DT_DOUBLE: float(np.finfo(np.float64).max),
              types_pb2.DT_HALF: float(np.finfo(np.float16).max)}
_INT_RANGE = {
    types_pb2.DT_INT8: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT16: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT8: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT16: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}


def json_type(value: Any) -> str:
    """The JSON type name TF Serving's error texts use (rapidjson's: Null, True, Object, ...)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _json_text(value: Any) -> str:
    if isinstance(value, float):
        return _format_decimal(value, types_pb2.DT_DOUBLE)
    return json.dumps(value, separators=(",", ":"))


def _type_error(value: Any, dtype: int) -> ServingError:
    return ServingError(
        "INVALID_ARGUMENT",
        f"JSON Value: {_json_text(value)} Type: {json_type(value)} is not of expected type: "
        f"{dtype_name(dtype)}",
    )


def _is_b64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _scalar(value: Any, dtype: int) -> Any:
    """One JSON leaf checked against ``dtype`` (AddValueToTensor)."""
    if isinstance(value, dict):
        if dtype != types_pb2.DT_STRING:
            raise _type_error(value, dtype)
        if not _is_b64_object(value):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {_json_text(value)} not formatted correctly for base64 data",
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise ServingError("INVALID_ARGUMENT", "Unable to base64 decode") from None
    if dtype in _FLOAT_MAX:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        if isinstance(value, int):
            if abs(value) > _FLOAT_MAX_INT[dtype]:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Cannot convert JSON value: {value} to {dtype_name(dtype)} without loss of precision.",
                )
        elif math.isfinite(value) and abs(value) > _FLOAT_MAX[dtype]:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Cannot convert JSON value: {_json_text(value)} to {dtype_name(dtype)} without loss of precision.",
            )
        return value
    if dtype in _INT_RANGE:
        lo, hi = _INT_RANGE[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    raise ServingError(
        "UNIMPLEMENTED", f"Conversion of JSON Value: {_json_text(value)} to type: {dtype_name(dtype)}"
    )


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {_json_text(value)} found at incorrect level: {level + 1} in the "
                f"JSON DOM. Expected at level: {rank}",
            )
        out.append(_scalar(value, dtype))
        return
    if level >= rank:
        raise ServingError(
            "INVALID_ARGUMENT", f"Encountered list at unexpected level: {level} expected < {rank}"
        )
    if len(value) != shape[level]:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: "
            f"{shape[level]}",
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _fast_numeric(value: Any, dtype: int) -> np.ndarray | None:
    """numpy's C conversion for the common case; ``None`` sends the value to the exact path."""
    np_dtype = NP_DTYPES[dtype]
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        return None
    kind = arr.dtype.kind
    if dtype in _FLOAT_MAX:
        if kind == "f":
            if arr.size and np.isfinite(arr).all() and np.abs(arr).max() > _FLOAT_MAX[dtype]:
                return None
            return arr.astype(np_dtype, copy=False)
        if kind == "i":
            if arr.size and np.abs(arr).max() > _FLOAT_MAX_INT[dtype]:
                return None
            return arr.astype(np_dtype)
        return None
    if dtype in _INT_RANGE and kind in "iu":
        lo, hi = _INT_RANGE[dtype]
        if arr.size and (arr.min() < lo or arr.max() > hi):
            return None
        return arr.astype(np_dtype, copy=False)
    if dtype == types_pb2.DT_BOOL and kind == "b":
        return arr
    return None


def json_to_tensor(value: Any, dtype: int, *, has_bool_tokens: bool = True) -> np.ndarray:
    """A JSON value (scalar or nested lists) as a dense tensor of ``dtype``."""
    if dtype not in NP_DTYPES:
        raise ServingError(
            "UNIMPLEMENTED", f"Conversion of JSON Value: {_json_text(value)} to type: {dtype_name(dtype)}"
        )
    # numpy would turn true/false into numbers silently; the exact path rejects them.
    if dtype != types_pb2.DT_STRING and (dtype == types_pb2.DT_BOOL or not has_bool_tokens):
        arr = _fast_numeric(value, dtype)
        if arr is not None:
            return arr
    return _exact(value, dtype)


def instances_to_tensors(
    instances: Any, input_dtypes: dict[str, int], *, has_bool_tokens: bool = True
) -> dict[str, np.ndarray]:
    """Row format (``"instances"``): one element per batch row (FillTensorMapFromInstancesList)."""
    names = sorted(input_dtypes)
    first = instances[0]
    if not isinstance(first, dict) and len(names) > 1:
        raise ServingError(
            "INVALID_ARGUMENT",
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map",
        )
    objects = isinstance(first, dict) and not _is_b64_object(first)
    if not objects:
        name = names[0]
        for i, elem in enumerate(instances):
            if isinstance(elem, dict) and not _is_b64_object(elem):
                raise ServingError(
                    "INVALID_ARGUMENT", f"Expecting value/list but got object at item {i} of input list"
                )
        # The whole list is one dense tensor whose first dimension is the row count.
        try:
            return {name: json_to_tensor(instances, input_dtypes[name], has_bool_tokens=has_bool_tokens)}
        except ServingError:
            pass
        rows = _rows_exact(instances, name, input_dtypes[name], None)
        return {name: _stack(rows, input_dtypes[name])}
    columns: dict[str, list] = {n: [] for n in names}
    shapes: dict[str, list[int]] = {}
    for i, elem in enumerate(instances):
        if not isinstance(elem, dict) or _is_b64_object(elem):
            raise ServingError("INVALID_ARGUMENT", f"Expecting object but got list at item {i} of input list")
        for key, value in elem.items():
            if key not in input_dtypes:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                    f"INVALID_ARGUMENT: JSON object: does not have named input: {key}",
                )
            try:
                tensor = _exact(value, input_dtypes[key])
                _check_row_shape(shapes, key, list(tensor.shape))
            except ServingError as err:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: {err}",
                ) from None
            columns[key].append(tensor)
        if set(elem) != set(names):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{json.dumps(elem, separators=(',', ':'))} must only have keys: {','.join(names)}",
            )
    return {n: _stack(columns[n], input_dtypes[n]) for n in names}


def _exact(value: Any, dtype: int) -> np.ndarray:
    shape = _dense_shape(value)
    flat: list = []
    _fill(value, 0, shape, dtype, flat)
    if dtype == types_pb2.DT_STRING:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    return np.asarray(flat, dtype=NP_DTYPES[dtype]).reshape(shape)


def _check_row_shape(shapes: dict[str, list[int]], name: str, shape: list[int]) -> None:
    if name not in shapes:
        shapes[name] = shape
        return
    want = shapes[name]
    if math.prod(want) != math.prod(shape):
        raise ServingError(
            "INVALID_ARGUMENT", f"Expecting tensor size: {math.prod(want)} but got: {math.prod(shape)}"
        )
    if want != shape:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Expecting shape [{','.join(map(str, want))}] but got: [{','.join(map(str, shape))}]",
        )


def _rows_exact(instances: list, name: str, dtype: int, _unused) -> list[np.ndarray]:
    rows, shapes = [], {}
    for i, elem in enumerate(instances):
        try:
            tensor = _exact(elem, dtype)
            _check_row_shape(shapes, name, list(tensor.shape))
        except ServingError as err:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Failed to process element: {i} of 'instances' list. Error: {err}",
            ) from None
        rows.append(tensor)
    return rows


def _stack(rows: list[np.ndarray], dtype: int) -> np.ndarray:
    if NP_DTYPES[dtype] == object:
        out = np.empty((len(rows),) + rows[0].shape, dtype=object)
        for i, row in enumerate(rows):
            out[i] = row
        return out
    return np.stack(rows).astype(NP_DTYPES[dtype], copy=False)


def inputs_to_tensors(
    inputs: Any, input_dtypes: dict[str, int], *, has_bool_tokens: bool = True
) -> dict[str, np.ndarray]:
    """Columnar format (``"inputs"``): one value, or an object of named values."""
    if not isinstance(inputs, dict) or _is_b64_object(inputs):
        if len(input_dtypes) > 1:
            raise ServingError(
                "INVALID_ARGUMENT",
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map",
            )
        (name, dtype), = input_dtypes.items()
        return {name: json_to_tensor(inputs, dtype, has_bool_tokens=has_bool_tokens)}
    out = {}
    for name in sorted(input_dtypes):
        if name not in inputs:
            raise ServingError("INVALID_ARGUMENT", f"Missing named input: {name} in 'inputs' object.")
        out[name] = json_to_tensor(inputs[name], input_dtypes[name], has_bool_tokens=has_bool_tokens)
    return out


# --------------------------------------------------------------------------- JSON out


def _format_decimal(value: float, dtype: int) -> str:
    """WriteDecimal: ``%g``, else full precision; ``.0`` on whole numbers; NaN/Infinity."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%g" % value
    if dtype == types_pb2.DT_DOUBLE:
        if float(text) != value:
            text = "%.17g" % value
    elif np.float32(float(text)) != np.float32(value):
        text = "%.9g" % value
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text


def _leaf_writer(dtype: int, as_bytes: bool) -> Callable[[Any], str]:
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_HALF):
        return lambda v: _format_decimal(float(v), types_pb2.DT_FLOAT)
    if dtype == types_pb2.DT_DOUBLE:
        return lambda v: _format_decimal(float(v), types_pb2.DT_DOUBLE)
    if dtype == types_pb2.DT_BOOL:
        return lambda v: "true" if v else "false"
    if dtype == types_pb2.DT_STRING:
        if as_bytes:
            return lambda v: '{"b64": "' + base64.b64encode(_as_bytes(v)).decode("ascii") + '"}'
        return lambda v: json.dumps(_as_bytes(v).decode("utf-8", "replace"), ensure_ascii=False)
    return lambda v: str(int(v))


def _as_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _write(array: np.ndarray, leaf: Callable[[Any], str]) -> str:
    if array.ndim == 0:
        return leaf(array.item() if array.dtype != object else array[()])
    if array.ndim == 1:
        items = array.tolist() if array.dtype != object else list(array)
        return "[" + ", ".join(leaf(v) for v in items) + "]"
    return "[" + ", ".join(_write(sub, leaf) for sub in array) + "]"


def _writer_for(name: str, dtype: int) -> Callable[[Any], str]:
    return _leaf_writer(dtype, dtype == types_pb2.DT_STRING and name.endswith("_bytes"))


def predictions_json(outputs: dict[str, tuple[np.ndarray, int]]) -> str:
    """Row format response: ``{"predictions": [...]}`` (MakeRowFormatJsonFromTensors)."""
    if not outputs:
        raise ServingError("INVALID_ARGUMENT", "Cannot convert empty tensor map to JSON")
    batch = 0
    for name in sorted(outputs):
        array = outputs[name][0]
        if array.ndim == 0:
            raise ServingError("INVALID_ARGUMENT", f"Tensor name: {name} has no shape information ")
        size = array.shape[0]
        if size < 1:
            raise ServingError("INVALID_ARGUMENT", f"Tensor name: {name} has invalid batch size: {size}")
        if batch and size != batch:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}",
            )
        batch = size
    names = sorted(outputs)
    writers = {n: _writer_for(n, outputs[n][1]) for n in names}
    if len(names) == 1:
        (name,) = names
        rows = [_write(row, writers[name]) for row in outputs[name][0]]
    else:
        rows = [
            "{" + ", ".join(f'"{n}": {_write(outputs[n][0][i], writers[n])}' for n in names) + "}"
            for i in range(batch)
        ]
    return '{\n    "predictions": [' + ", ".join(rows) + "]\n}"


def outputs_json(outputs: dict[str, tuple[np.ndarray, int]]) -> str:
    """Columnar format response: ``{"outputs": value-or-object}``."""
    if not outputs:
        raise ServingError("INVALID_ARGUMENT", "Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if len(names) == 1:
        (name,) = names
        array, dtype = outputs[name]
        return '{\n    "outputs": ' + _write(array, _writer_for(name, dtype)) + "\n}"
    parts = [f'"{n}": {_write(outputs[n][0], _writer_for(n, outputs[n][1]))}' for n in names]
    return '{\n    "outputs": {\n        ' + ",\n        ".join(parts) + "\n    }\n}"
