"""gRPC: ``tensorflow.serving.PredictionService`` and ``tensorflow.serving.ModelService``.

PredictionService: ``Predict`` and ``GetModelMetadata``; ``Classify``, ``Regress`` and
``MultiInference`` answer UNIMPLEMENTED. ModelService: ``GetModelStatus`` and
``HandleReloadConfigRequest`` (the new config replaces the old one; models absent from it are
unloaded). Servicers are the official generated base classes, so the wire contract is the
one in ``tensorflow_serving/apis``.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from . import log
from .errors import ServingError
from .service import ModelService, status_proto
from .tensors import tensor_from_proto, tensor_to_proto

__all__ = ["GrpcServer"]


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

    def Predict(self, request, context):
        try:
            name, version, label = _spec(request.model_spec)
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
        except ServingError as err:
            _abort(context, err)

    def GetModelMetadata(self, request, context):
        try:
            name, version, label = _spec(request.model_spec)
            return self._service.metadata(name, version, label, list(request.metadata_field))
        except ServingError as err:
            _abort(context, err)

    def Classify(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Classify is not supported by this model server; use Predict")

    def Regress(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Regress is not supported by this model server; use Predict")

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported by this model server")


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: ModelService, reload) -> None:
        self._service = service
        self._reload = reload

    def GetModelStatus(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
            name, version, label = _spec(request.model_spec)
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


class GrpcServer:
    def __init__(self, host: str, port: int, service: ModelService, reload, max_threads: int = 32) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(service), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(service, reload), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind gRPC port {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float) -> None:
        """Refuse new RPCs now; wait up to ``grace`` s for those in flight."""
        self._server.stop(grace).wait()
