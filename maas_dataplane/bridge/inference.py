"""Requests to ``Predict`` calls and back: parsing, batching, retries, splitting.

One poll's worth of request records goes through :meth:`Predictor.run`. JSON requests in row
format (``"instances"``) that share the version pin, the signature and every input's dtype and
per-row shape are stacked into one ``Predict`` call of at most ``max_batch_size`` rows and the
outputs are split back per request by rows, so each answer is exactly the REST body the model
server would have written for that request alone. Columnar (``"inputs"``) and protobuf
requests have no batch axis the bridge may assume, so each is a call of its own (all calls of
a poll run concurrently).

JSON values are checked against the signature's input dtypes (from ``GetModelMetadata``, cached
for a few seconds per version pin) with the model server's own REST rules and error texts.

Outcomes: :class:`Answer` or :class:`Failure` per request. Transient errors
(:data:`~maas_dataplane.bridge.messages.TRANSIENT_CODES`, and "no version of the model is loaded
yet") are retried with exponential backoff until they succeed; the ``wait`` callback the loop
passes keeps the consumer alive meanwhile and may raise to give the batch up (a rebalance).
A permanent error of a stacked call is retried request by request, so one bad request cannot
fail its neighbours.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import grpc
import numpy as np

from maas_dataplane.model_server.errors import ServingError
from maas_dataplane.model_server.tensors import (
    NP_DTYPES,
    inputs_to_tensors,
    instances_to_tensors,
    outputs_json,
    predictions_json,
    tensor_from_proto,
    tensor_to_proto,
)
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from . import messages as H

__all__ = ["Answer", "Failure", "Predictor", "RawRequest", "is_transient"]

SIGNATURE_DEF = "signature_def"
SERVING_DEFAULT = "serving_default"


@dataclass(frozen=True)
class RawRequest:
    """What the predictor needs of one request record."""

    value: Optional[bytes]
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Answer:
    value: bytes
    content_type: str
    version: int


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass
class _Prepared:
    index: int
    kind: str  # "instances", "inputs" or "proto"
    version: Optional[int]
    label: Optional[str]
    signature: str = ""
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, int] = field(default_factory=dict)
    proto: Optional[predict_pb2.PredictRequest] = None
    rows: int = 0
    doc: Any = None
    """The parsed JSON body until it is converted to ``tensors``."""
    bools: bool = False


@dataclass
class _Call:
    items: list[_Prepared]
    request: predict_pb2.PredictRequest
    future: Any = None


class _Transient(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def is_transient(code: str, message: str) -> bool:
    """Retried rather than reported: an overload, a restart or a rollout, or a server that has
    not loaded any version of the model yet (a request for the latest version cannot be wrong)."""
    if code in H.TRANSIENT_CODES:
        return True
    return code == "NOT_FOUND" and message.startswith("Servable not found for request: Latest(")


def _rpc_error(err: grpc.RpcError) -> tuple[str, str]:
    code = err.code() if hasattr(err, "code") else None
    return (code.name if code is not None else "UNKNOWN"), (err.details() if hasattr(err, "details") else str(err)) or ""


class Predictor:
    """Calls ``PredictionService`` at ``target`` (the model's router) for model ``model``."""

    def __init__(self, target: str, model: str, *, max_batch_size: int = 64, timeout_s: float = 30.0,
                 metadata_ttl_s: float = 10.0, backoff_initial_s: float = 0.05, backoff_max_s: float = 2.0,
                 log: Callable[[str], None] = lambda _m: None) -> None:
        self.model = model
        self.max_batch_size = max(1, int(max_batch_size))
        self.timeout_s = timeout_s
        self.metadata_ttl_s = metadata_ttl_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._log = log
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1),
            ("grpc.enable_retries", 0),
        ])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._metadata: dict[tuple, tuple[float, Any]] = {}
        self.calls = 0
        self.retries = 0

    def close(self) -> None:
        self._channel.close()

    # ------------------------------------------------------------------ the batch

    def run(self, requests: list[RawRequest], wait: Callable[[float], None]) -> list[Answer | Failure]:
        """One outcome per request, in order. Blocks (through ``wait``) while errors are transient."""
        out: list[Answer | Failure | None] = [None] * len(requests)
        prepared: list[_Prepared] = []
        for i, raw in enumerate(requests):
            try:
                prepared.append(self._parse(i, raw))
            except ServingError as err:
                out[i] = Failure(err.code, err.message)
        delay = self.backoff_initial_s
        pending = prepared
        while pending:
            try:
                self._convert(pending, out)
            except _Transient as err:
                self._log(f"model metadata: {err.code}: {err.message}; retrying in {delay:.2f}s")
                wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            todo = [p for p in pending if out[p.index] is None]
            calls = self._calls(todo)
            retry = self._execute(calls, out)
            if not retry:
                break
            self.retries += 1
            self._log(f"{len(retry)} request(s) met a transient error; retrying in {delay:.2f}s")
            wait(delay)
            delay = min(delay * 2, self.backoff_max_s)
            pending = retry
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ parsing

    def _parse(self, index: int, raw: RawRequest) -> _Prepared:
        version_text = H.header(raw.headers, H.MODEL_VERSION)
        label = H.header(raw.headers, H.MODEL_VERSION_LABEL) or None
        version = None
        if version_text:
            try:
                version = int(version_text)
                if version < 0:
                    raise ValueError
            except ValueError:
                raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {version_text} to numeric.") from None
        if version is not None and label:
            raise ServingError("INVALID_ARGUMENT", f"Both model version ({version}) and model version label ({label}) cannot be supplied.")
        content_type = (H.header(raw.headers, H.CONTENT_TYPE) or H.JSON).split(";")[0].strip().lower()
        body = raw.value or b""
        if content_type == H.PROTOBUF:
            return self._parse_proto(index, body, version, label)
        if content_type != H.JSON:
            raise ServingError("INVALID_ARGUMENT", f"Unsupported content-type {content_type!r}: use {H.JSON} or {H.PROTOBUF}")
        if not body:
            raise ServingError("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {getattr(err, 'msg', err)} at offset: {getattr(err, 'pos', 0)}") from None
        if not isinstance(doc, dict):
            raise ServingError("INVALID_ARGUMENT", f"JSON Value: {body.decode('utf-8', 'replace')[:200]} Is not object")
        signature = doc.get("signature_name", "")
        if not isinstance(signature, str):
            raise ServingError("INVALID_ARGUMENT", "'signature_name' key must be a string value.")
        if "instances" in doc:
            if "inputs" in doc:
                raise ServingError("INVALID_ARGUMENT", "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise ServingError("INVALID_ARGUMENT", "Excepting 'instances' to be an list/array")
            if not instances:
                raise ServingError("INVALID_ARGUMENT", "No values in 'instances' array")
            p = _Prepared(index, "instances", version, label, signature)
        elif "inputs" in doc:
            p = _Prepared(index, "inputs", version, label, signature)
        else:
            raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
        p.doc = doc  # converted once the signature's dtypes are known
        p.bools = b"true" in body or b"false" in body
        return p

    def _parse_proto(self, index: int, body: bytes, version: Optional[int], label: Optional[str]) -> _Prepared:
        request = predict_pb2.PredictRequest()
        try:
            request.ParseFromString(body)
        except Exception:  # protobuf's DecodeError
            raise ServingError("INVALID_ARGUMENT", "Could not parse the value as a tensorflow.serving.PredictRequest") from None
        spec = request.model_spec
        if spec.name and spec.name != self.model:
            raise ServingError("NOT_FOUND", f"This bridge serves model {self.model!r}, the request names {spec.name!r}")
        spec.name = self.model
        which = spec.WhichOneof("version_choice")
        if version is not None or label:
            if which is not None and (spec.version.value != version if which == "version" else spec.version_label != label):
                raise ServingError("INVALID_ARGUMENT", "The model-version headers and the request's model_spec disagree")
            if version is not None:
                spec.version.value = version
            else:
                spec.version_label = label or ""
        return _Prepared(index, "proto", version, label, spec.signature_name, proto=request)

    # ------------------------------------------------------------------ JSON -> tensors

    def _signatures(self, version: Optional[int], label: Optional[str]):
        key = (version, label)
        now = time.monotonic()
        hit = self._metadata.get(key)
        if hit is not None and now - hit[0] < self.metadata_ttl_s:
            return hit[1]
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF])
        request.model_spec.name = self.model
        if version is not None:
            request.model_spec.version.value = version
        elif label:
            request.model_spec.version_label = label
        try:
            response = self._stub.GetModelMetadata(request, timeout=self.timeout_s)
        except grpc.RpcError as err:
            code, message = _rpc_error(err)
            if is_transient(code, message):
                raise _Transient(code, message) from None
            result: Any = ServingError(code, message)
        else:
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            response.metadata[SIGNATURE_DEF].Unpack(sig_map)
            result = {name: {alias: info.dtype for alias, info in sig.inputs.items()}
                      for name, sig in sig_map.signature_def.items()}
        self._metadata[key] = (now, result)
        return result

    def _convert(self, items: list[_Prepared], out: list) -> None:
        for p in items:
            if p.kind == "proto" or out[p.index] is not None or p.doc is None:
                continue
            sigs = self._signatures(p.version, p.label)
            try:
                if isinstance(sigs, ServingError):
                    raise sigs
                name = p.signature or SERVING_DEFAULT
                dtypes = sigs.get(name)
                if dtypes is None:
                    raise ServingError("INVALID_ARGUMENT", f'Serving signature name: "{name}" not found in signature def')
                if not dtypes:
                    raise ServingError("INVALID_ARGUMENT", f"Failed to get input map for signature: {name}")
                if p.kind == "instances":
                    tensors = instances_to_tensors(p.doc["instances"], dtypes, has_bool_tokens=p.bools)
                    p.rows = len(p.doc["instances"])
                else:
                    tensors = inputs_to_tensors(p.doc["inputs"], dtypes, has_bool_tokens=p.bools)
                p.tensors, p.dtypes, p.doc = tensors, dict(dtypes), None
            except ServingError as err:
                out[p.index] = Failure(err.code, err.message)
            except (TypeError, ValueError) as err:
                out[p.index] = Failure("INVALID_ARGUMENT", str(err))

    # ------------------------------------------------------------------ calls

    def _request(self, first: _Prepared, tensors: dict[str, np.ndarray]) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        if first.version is not None:
            request.model_spec.version.value = first.version
        elif first.label:
            request.model_spec.version_label = first.label
        request.model_spec.signature_name = first.signature
        for alias, array in tensors.items():
            request.inputs[alias].CopyFrom(tensor_to_proto(array, first.dtypes[alias]))
        return request

    def _calls(self, items: list[_Prepared]) -> list[_Call]:
        calls: list[_Call] = []
        groups: dict[tuple, list[_Prepared]] = {}
        for p in items:
            if p.kind == "proto":
                assert p.proto is not None
                calls.append(_Call([p], p.proto))
            elif p.kind == "inputs":
                calls.append(_Call([p], self._request(p, p.tensors)))
            else:
                shape = tuple(sorted((a, p.dtypes[a], t.shape[1:]) for a, t in p.tensors.items()))
                groups.setdefault((p.version, p.label, p.signature, shape), []).append(p)
        for group in groups.values():
            chunk: list[_Prepared] = []
            rows = 0
            for p in group:
                if chunk and rows + p.rows > self.max_batch_size:
                    calls.append(self._stacked(chunk))
                    chunk, rows = [], 0
                chunk.append(p)
                rows += p.rows
            if chunk:
                calls.append(self._stacked(chunk))
        return calls

    def _stacked(self, chunk: list[_Prepared]) -> _Call:
        if len(chunk) == 1:
            return _Call(chunk, self._request(chunk[0], chunk[0].tensors))
        first = chunk[0]
        tensors = {}
        for alias in first.tensors:
            parts = [p.tensors[alias] for p in chunk]
            if NP_DTYPES.get(first.dtypes[alias]) == np.dtype(object):
                stacked = np.empty((sum(len(x) for x in parts),) + parts[0].shape[1:], dtype=object)
                i = 0
                for x in parts:
                    stacked[i:i + len(x)] = x
                    i += len(x)
            else:
                stacked = np.concatenate(parts, axis=0)
            tensors[alias] = stacked
        return _Call(chunk, self._request(first, tensors))

    def _execute(self, calls: list[_Call], out: list) -> list[_Prepared]:
        """Runs every call concurrently; fills ``out``; returns the items to retry (transient)."""
        retry: list[_Prepared] = []
        for call in calls:
            call.future = self._stub.Predict.future(call.request, timeout=self.timeout_s)
            self.calls += 1
        singles: list[_Call] = []
        for call in calls:
            try:
                response = call.future.result()
            except grpc.RpcError as err:
                code, message = _rpc_error(err)
                if is_transient(code, message):
                    retry.extend(call.items)
                elif len(call.items) > 1:
                    singles.extend(_Call([p], self._request(p, p.tensors)) for p in call.items)
                else:
                    out[call.items[0].index] = Failure(code, message)
                continue
            if not self._answer(call, response, out):
                singles.extend(_Call([p], self._request(p, p.tensors)) for p in call.items)
        if singles:
            retry.extend(self._execute(singles, out))
        return retry

    def _answer(self, call: _Call, response: predict_pb2.PredictResponse, out: list) -> bool:
        """Splits ``response`` over the call's requests; ``False`` if it cannot be split by rows."""
        version = response.model_spec.version.value
        first = call.items[0]
        if first.kind == "proto":
            out[first.index] = Answer(response.SerializeToString(), H.PROTOBUF, version)
            return True
        try:
            outputs = {alias: (tensor_from_proto(t, alias), t.dtype) for alias, t in response.outputs.items()}
        except ServingError as err:
            out[first.index] = Failure("INTERNAL", f"unreadable response: {err.message}")
            return True
        if first.kind == "inputs":
            out[first.index] = self._json(first, outputs_json, outputs, version)
            return True
        if len(call.items) == 1:
            out[first.index] = self._json(first, predictions_json, outputs, version)
            return True
        total = sum(p.rows for p in call.items)
        if any(a.ndim == 0 or a.shape[0] != total for a, _ in outputs.values()):
            return False
        start = 0
        for p in call.items:
            part = {alias: (a[start:start + p.rows], dt) for alias, (a, dt) in outputs.items()}
            out[p.index] = self._json(p, predictions_json, part, version)
            start += p.rows
        return True

    @staticmethod
    def _json(p: _Prepared, write, outputs, version: int) -> Answer | Failure:
        try:
            return Answer(write(outputs).encode("utf-8"), H.JSON, version)
        except ServingError as err:
            return Failure(err.code, err.message)
