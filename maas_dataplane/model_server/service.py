"""The operations both front ends serve: predict, metadata and status, on numpy tensors.

REST and gRPC differ only in how they decode requests and encode answers; the lookups, the
checks against the signature and their error texts live here once.
"""

from __future__ import annotations

import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from .errors import ServingError
from .manager import ModelManager, VersionStatus
from .servable import LoadedVersion, Signature

__all__ = ["ModelService", "status_proto", "SIGNATURE_DEF"]

SIGNATURE_DEF = "signature_def"
_STATE = get_model_status_pb2.ModelVersionStatus.State


class ModelService:
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager
        self.draining = False

    def signature(self, name: str, version: int | None, label: str | None, signature_name: str,
                  *, rest: bool = False) -> tuple[LoadedVersion, Signature]:
        lv = self.manager.resolve(name, version, label)
        return lv, lv.signature(signature_name, rest=rest)

    def predict(self, lv: LoadedVersion, sig: Signature, inputs: dict[str, np.ndarray],
                output_filter: list[str] | None = None) -> dict[str, tuple[np.ndarray, int]]:
        aliases = list(sig.outputs)
        if output_filter:
            seen = set()
            for alias in output_filter:
                if alias not in sig.outputs:
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"output tensor alias not found in signature: {alias} Outputs expected to "
                        f"be in the set {{{','.join(sorted(sig.outputs))}}}.",
                    )
                if alias in seen:
                    raise ServingError("INVALID_ARGUMENT", f"duplicate output tensor alias: {alias}")
                seen.add(alias)
            aliases = list(output_filter)
        checked = sig.check_inputs(inputs)
        results = lv.predict(sig, checked)
        return {a: (np.asarray(results[a]), sig.outputs[a].dtype) for a in aliases}

    def metadata(self, name: str, version: int | None, label: str | None,
                 fields: list[str]) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not fields:
            raise ServingError("INVALID_ARGUMENT", "GetModelMetadataRequest must specify at least one metadata_field")
        for f in fields:
            if f != SIGNATURE_DEF:
                raise ServingError("INVALID_ARGUMENT", f"MetadataField {f} is not supported")
        lv = self.manager.resolve(name, version, label)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = lv.version
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig_def in lv.signature_defs.items():
            sig_map.signature_def[key].CopyFrom(sig_def)
        response.metadata[SIGNATURE_DEF].Pack(sig_map)
        return response

    def classify(self, name: str, version: int | None, label: str | None, signature_name: str, inp):
        from . import inference, metrics

        lv = self.manager.resolve(name, version, label)
        response = inference.classify(lv, name, signature_name, inp)
        metrics.record_examples(name, len(response.result.classifications))
        return response

    def regress(self, name: str, version: int | None, label: str | None, signature_name: str, inp):
        from . import inference, metrics

        lv = self.manager.resolve(name, version, label)
        response = inference.regress(lv, name, signature_name, inp)
        metrics.record_examples(name, len(response.result.regressions))
        return response

    def multi_inference(self, request):
        """The model spec is the first task's (an empty one when there are no tasks)."""
        from . import inference, metrics
        from tensorflow_serving.apis import model_pb2

        spec = request.tasks[0].model_spec if request.tasks and request.tasks[0].HasField("model_spec") \
            else model_pb2.ModelSpec()
        which = spec.WhichOneof("version_choice")
        lv = self.manager.resolve(spec.name, spec.version.value if which == "version" else None,
                                  spec.version_label if which == "version_label" else None)
        response = inference.multi_inference(lv, request)
        metrics.record_examples(spec.name, len(inference.examples_tensor(request.input)))
        return response

    def status(self, name: str, version: int | None, label: str | None) -> list[VersionStatus]:
        if not name:
            raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
        return self.manager.status(name, version, label)


def status_proto(statuses: list[VersionStatus], *, draining: bool = False) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for st in statuses:
        item = response.model_version_status.add()
        item.version = st.version
        state = st.state
        if draining and state == "AVAILABLE":
            state = "UNLOADING"
        item.state = _STATE.Value(state)
        item.status.error_code = _code(st.error_code)
        item.status.error_message = st.error_message
    return response


def _code(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)
