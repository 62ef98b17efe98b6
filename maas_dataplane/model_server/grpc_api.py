"""gRPC: ``tensorflow.serving.PredictionService`` and ``tensorflow.serving.ModelService``.

PredictionService: ``Predict``, ``Classify``, ``Regress``, ``MultiInference`` and
``GetModelMetadata``. ModelService: ``GetModelStatus`` and ``HandleReloadConfigRequest`` (the
new config replaces the old one; models absent from it are unloaded). Servicers are the
official generated base classes, so the wire contract is the one in ``tensorflow_serving/apis``.
A request without a ``model_spec`` fails with TF Serving's ``Missing ModelSpec``, one with an
empty model name with ``ModelSpec has no name specified.`` (both INVALID_ARGUMENT).

Listening: TCP (``--port``) and, with ``--grpc_socket_path``, a Unix socket too. What a
client may send is bounded by :data:`DEFAULT_MAX_RECEIVE_BYTES` (64 MiB, the REST body's
default limit; TF Serving's own default is INT32_MAX), so at most ``max_threads`` such
messages are in hand at once; answers may be up to INT32_MAX bytes, as in TF Serving. Then
``--grpc_channel_arguments`` (``key=value,key=value``; integer values as integers) applies, so
e.g. ``grpc.max_receive_message_length=1048576`` lowers the bound, or ``2147483647`` gives TF
Serving's.
"""

from __future__ import annotations

from concurrent import futures

import time

import grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from . import log, metrics
from .errors import ServingError
from .service import ModelService, status_proto
from .tensors import tensor_from_proto, tensor_to_proto

__all__ = ["DEFAULT_MAX_RECEIVE_BYTES", "GrpcServer"]


INT32_MAX = 2**31 - 1
DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024
"""The largest request message accepted unless ``--grpc_channel_arguments`` says otherwise."""


def _request_spec(request):
    if not request.HasField("model_spec"):
        raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
    return _spec(request.model_spec)


def _spec(model_spec):
    which = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if which == "version" else None
    label = model_spec.version_label if which == "version_label" else None
    return model_spec.name, version, label


def _abort(context: grpc.ServicerContext, err: ServingError):
    context.abort(err.grpc_status, err.message)


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: ModelService) -> None:
        self._service = service

    def _observe(self, api: str, request, context, work):
        start = time.perf_counter()
        status = "OK"
        try:
            return work()
        except ServingError as err:
            status = err.code
            _abort(context, err)
        except Exception:
            status = "UNKNOWN"
            raise
        finally:
            metrics.record_request(request.model_spec.name, status, api, "GRPC",
                                   (time.perf_counter() - start) * 1e6)

    def Predict(self, request, context):
        def work():
            name, version, label = _request_spec(request)
            lv, sig = self._service.signature(name, version, label, request.model_spec.signature_name)
            inputs = {alias: tensor_from_proto(t, alias) for alias, t in request.inputs.items()}
            outputs = self._service.predict(lv, sig, inputs, list(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = lv.version
            response.model_spec.signature_name = sig.name
            for alias, (array, dtype) in outputs.items():
                response.outputs[alias].CopyFrom(tensor_to_proto(array, dtype))
            return response

        return self._observe("Predict", request, context, work)

    def GetModelMetadata(self, request, context):
        try:
            name, version, label = _request_spec(request)
            return self._service.metadata(name, version, label, list(request.metadata_field))
        except ServingError as err:
            _abort(context, err)

    def Classify(self, request, context):
        def work():
            name, version, label = _request_spec(request)
            return self._service.classify(name, version, label, request.model_spec.signature_name, request.input)

        return self._observe("Classify", request, context, work)

    def Regress(self, request, context):
        def work():
            name, version, label = _request_spec(request)
            return self._service.regress(name, version, label, request.model_spec.signature_name, request.input)

        return self._observe("Regress", request, context, work)

    def MultiInference(self, request, context):
        try:
            return self._service.multi_inference(request)
        except ServingError as err:
            _abort(context, err)


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: ModelService, reload) -> None:
        self._service = service
        self._reload = reload

    def GetModelStatus(self, request, context):
        try:
            name, version, label = _request_spec(request)
            if not name:
                raise ServingError("NOT_FOUND", "Could not find any versions of model ")
            return status_proto(self._service.status(name, version, label), draining=self._service.draining)
        except ServingError as err:
            _abort(context, err)

    def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            problems = self._reload(request.config)
        except ServingError as err:
            log.error("model_service", f"Config reload failed: {err}")
            response.status.error_code = _code(err.code)
            response.status.error_message = err.message
            return response
        if problems:
            response.status.error_code = _code("FAILED_PRECONDITION")
            response.status.error_message = " ".join(problems)
        return response


def _code(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)


def parse_channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """``--grpc_channel_arguments``: ``key=value`` pairs separated by commas; a value that
    parses as a 32-bit integer is passed as one, any other as a string (server.cc)."""
    out: list[tuple[str, int | str]] = []
    for item in text.split(",") if text else []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grpc_channel_arguments: not key=value: {item!r}")
        key, value = key.strip(), value.strip()
        try:
            number = int(value)
            out.append((key, number) if -(2**31) <= number <= INT32_MAX else (key, value))
        except ValueError:
            out.append((key, value))
    return out


class GrpcServer:
    def __init__(self, host: str, port: int, service: ModelService, reload, max_threads: int = 32,
                 *, socket_path: str = "", channel_arguments: str = "") -> None:
        options = {
            "grpc.max_receive_message_length": DEFAULT_MAX_RECEIVE_BYTES,
            "grpc.max_send_message_length": INT32_MAX,
            "grpc.so_reuseport": 0,
        }
        options.update(parse_channel_arguments(channel_arguments))
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="grpc"),
            options=list(options.items()),
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(service), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(service, reload), self._server)
        self.port = 0
        if port:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
            if self.port == 0:
                raise OSError(f"could not bind gRPC port {host}:{port}")
        self.socket_path = socket_path
        if socket_path:
            if self._server.add_insecure_port(f"unix:{socket_path}") == 0:
                raise OSError(f"could not listen on the gRPC Unix socket {socket_path}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float) -> None:
        """Refuse new RPCs now; wait up to ``grace`` s for those in flight."""
        self._server.stop(grace).wait()
