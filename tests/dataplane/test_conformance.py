"""Conformance with TF Serving's REST shapes and the official gRPC client stubs.

One server for the module, serving ``half_plus_two`` versions 1 (0.5x+2) and 2 (0.5x+3)
from a ``models.config`` with labels ``stable`` -> 1 and ``canary`` -> 2.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from .conftest import ServerProcess, copy_version, http

MODEL = "half_plus_two"
X = [[1.0], [2.0], [5.0]]
V1 = [[2.5], [3.0], [4.5]]
V2 = [[3.5], [4.0], [5.5]]


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    base = root / "models" / MODEL
    for v, path in exported.items():
        copy_version(path, base, v)
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL}"\n    base_path: "{base}"\n    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 1 versions: 2 } }\n"
        '    version_labels { key: "stable" value: 1 }\n'
        '    version_labels { key: "canary" value: 2 }\n'
        "  }\n}\n"
    )
    proc = ServerProcess([f"--model_config_file={config}"], root / "server.log")
    try:
        proc.wait_available(MODEL, 1)
        proc.wait_available(MODEL, 2)
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


def available(version: int) -> dict:
    return {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


# ------------------------------------------------------------------------------ REST status


def test_status_lists_every_version_as_tf_serving_does(server):
    code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}")
    assert code == 200
    assert doc == {"model_version_status": [available(2), available(1)]}


@pytest.mark.parametrize("suffix,version", [("/versions/1", 1), ("/labels/stable", 1), ("/labels/canary", 2)])
def test_status_of_one_version(server, suffix, version):
    code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}{suffix}")
    assert (code, doc) == (200, {"model_version_status": [available(version)]})


@pytest.mark.parametrize(
    "path,code,message",
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/half_plus_two/versions/7", 404, "Could not find version 7 of model half_plus_two"),
        ("/v1/models/half_plus_two/labels/nope", 400, "Unrecognized servable version label: nope"),
        ("/v1/models", 400, "Missing model name in request."),
        ("/v1/nothing/here", 400, "Malformed request: GET /v1/nothing/here"),
    ],
)
def test_status_errors(server, path, code, message):
    got, doc, _ = http("GET", server.rest + path)
    assert (got, doc) == (code, {"error": message})


# ------------------------------------------------------------------------------ REST metadata


def test_metadata(server):
    code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}/metadata")
    assert code == 200
    assert doc["model_spec"] == {"name": MODEL, "signature_name": "", "version": "2"}
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    x = sig["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "1"]
    assert sig["outputs"]["y"]["dtype"] == "DT_FLOAT"
    assert "__saved_model_init_op" in doc["metadata"]["signature_def"]["signature_def"]


def test_metadata_by_version_and_label(server):
    for suffix, version in (("/versions/1", "1"), ("/labels/canary", "2")):
        code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}{suffix}/metadata")
        assert code == 200 and doc["model_spec"]["version"] == version


# ------------------------------------------------------------------------------ REST predict


@pytest.mark.parametrize(
    "suffix,expected",
    [("", V2), ("/versions/1", V1), ("/versions/2", V2), ("/labels/stable", V1), ("/labels/canary", V2)],
)
def test_predict_row_format(server, suffix, expected):
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}{suffix}:predict", {"instances": X})
    assert code == 200
    assert doc == {"predictions": expected}


def test_predict_columnar_format(server):
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}/versions/1:predict",
                        {"signature_name": "serving_default", "inputs": X})
    assert (code, doc) == (200, {"outputs": V1})


def test_predict_row_format_with_named_inputs(server):
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}/versions/1:predict",
                        {"instances": [{"x": [1.0]}, {"x": [3]}]})
    assert (code, doc) == (200, {"predictions": [[2.5], [3.5]]})


def test_predict_floats_written_like_tf_serving(server):
    code, _, raw = http("POST", f"{server.rest}/v1/models/{MODEL}/versions/1:predict", {"instances": [[0.2], [2.0]]})
    assert code == 200
    assert b"[2.1]" in raw and b"[3.0]" in raw  # float32 shortest text, whole numbers with .0


@pytest.mark.parametrize(
    "path,body,code,message",
    [
        ("/v1/models/nope:predict", {"instances": X}, 404, "Servable not found for request: Latest(nope)"),
        (f"/v1/models/{MODEL}/versions/9:predict", {"instances": X}, 404,
         "Servable not found for request: Specific(half_plus_two, 9)"),
        (f"/v1/models/{MODEL}/labels/nope:predict", {"instances": X}, 400,
         "Unrecognized servable version label: nope"),
        (f"/v1/models/{MODEL}:predict", {"signature_name": "nope", "instances": X}, 400,
         'Serving signature name: "nope" not found in signature def'),
        (f"/v1/models/{MODEL}:predict", {"instances": [["a"]]}, 400,
         "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
         'JSON Value: "a" Type: String is not of expected type: float'),
        (f"/v1/models/{MODEL}:predict", {"inputs": [[True]]}, 400,
         "JSON Value: true Type: True is not of expected type: float"),
        (f"/v1/models/{MODEL}:predict", {"instances": X, "inputs": X}, 400, None),
        (f"/v1/models/{MODEL}:predict", {"x": X}, 400, "Missing 'inputs' or 'instances' key"),
        (f"/v1/models/{MODEL}:predict", {"instances": [[1.0], [1.0, 2.0]]}, 400,
         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
         "Expecting tensor size: 1 but got: 2"),
        (f"/v1/models/{MODEL}:predict", {"instances": []}, 400, None),
        (f"/v1/models/{MODEL}:predict", b'{"instances": [[1.0]', 400, None),
        (f"/v1/models/{MODEL}:predict", b"", 400, "JSON Parse error: The document is empty"),
        (f"/v1/models/{MODEL}:predict", {"instances": [{"z": [1.0]}]}, 400, None),
    ],
)
def test_predict_bad_requests(server, path, body, code, message):
    got, doc, raw = http("POST", server.rest + path, body)
    assert got == code, raw
    assert isinstance(doc, dict) and list(doc) == ["error"], raw
    if message is not None:
        assert doc["error"] == message


def test_predict_shape_is_tensorflows_to_refuse(server):
    # As TF Serving: no shape check of its own; the Dense layer's matmul refuses [1,2].
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", {"instances": [[1.0, 2.0]]})
    assert code == 400 and doc["error"].startswith("Matrix size-incompatible: In[0]: [1,2], In[1]: [1,1]")
    assert "Graph execution error" not in doc["error"] and "[Op:" not in doc["error"]


def test_malformed_json_error_names_the_offset(server):
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", b"{not json")
    assert code == 400 and doc["error"].startswith("JSON Parse error:") and "at offset: 1" in doc["error"]


@pytest.mark.parametrize("verb,what", [("classify", "classification"), ("regress", "regression")])
def test_classify_and_regress_need_an_inputs_tensor(server, verb, what):
    # half_plus_two's only signature takes "x", not the serialized examples "inputs".
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:{verb}", {"examples": [{"x": 1.0}]})
    assert code == 400 and doc["error"].startswith(f"No {what} inputs found in SignatureDef: ")


def test_keep_alive_connection_serves_many_requests(server):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=5)
    for _ in range(20):
        conn.request("POST", f"/v1/models/{MODEL}/versions/1:predict", body=b'{"instances": [[1.0]]}')
        resp = conn.getresponse()
        assert resp.status == 200 and b"2.5" in resp.read()
    conn.close()


# ------------------------------------------------------------------------------ gRPC


def _request(version=None, label=None, signature="", x=X, dtype=types_pb2.DT_FLOAT):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = MODEL
    if version is not None:
        req.model_spec.version.value = version
    if label is not None:
        req.model_spec.version_label = label
    req.model_spec.signature_name = signature
    import tensorflow as tf

    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.asarray(x), dtype=tf.dtypes.as_dtype(dtype)))
    return req


@pytest.mark.parametrize("version,label,expected,served", [
    (None, None, V2, 2), (1, None, V1, 1), (None, "stable", V1, 1), (None, "canary", V2, 2)])
def test_grpc_predict(channel, version, label, expected, served):
    import tensorflow as tf

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    resp = stub.Predict(_request(version, label), timeout=10)
    assert resp.model_spec.name == MODEL
    assert resp.model_spec.version.value == served
    assert resp.model_spec.signature_name == "serving_default"
    y = resp.outputs["y"]
    assert y.dtype == types_pb2.DT_FLOAT and list(y.float_val) == [v[0] for v in expected]
    np.testing.assert_allclose(tf.make_ndarray(y), expected)


def test_grpc_predict_tensor_content_and_output_filter(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = MODEL
    arr = np.asarray(X, dtype=np.float32)
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=arr.tobytes())
    t.tensor_shape.dim.add().size = 3
    t.tensor_shape.dim.add().size = 1
    req.inputs["x"].CopyFrom(t)
    req.output_filter.append("y")
    assert list(stub.Predict(req, timeout=10).outputs["y"].float_val) == [3.5, 4.0, 5.5]


@pytest.mark.parametrize(
    "mutate,code,message",
    [
        (lambda r: setattr(r.model_spec, "name", "nope"), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Latest(nope)"),
        (lambda r: r.model_spec.version.__setattr__("value", 9), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Specific(half_plus_two, 9)"),
        (lambda r: setattr(r.model_spec, "version_label", "nope"), grpc.StatusCode.INVALID_ARGUMENT,
         "Unrecognized servable version label: nope"),
        (lambda r: setattr(r.model_spec, "signature_name", "nope"), grpc.StatusCode.FAILED_PRECONDITION,
         'Serving signature key "nope" not found.'),
        (lambda r: r.inputs["z"].CopyFrom(r.inputs["x"]), grpc.StatusCode.INVALID_ARGUMENT,
         "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. Missing but required: {}."),
        (lambda r: r.output_filter.append("nope"), grpc.StatusCode.INVALID_ARGUMENT,
         "output tensor alias not found in signature: nope Outputs expected to be in the set {y}."),
    ],
)
def test_grpc_predict_errors(channel, mutate, code, message):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = _request()
    mutate(req)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(req, timeout=10)
    assert info.value.code() == code
    assert info.value.details() == message


def test_grpc_predict_wrong_dtype_and_shape(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(_request(dtype=types_pb2.DT_DOUBLE), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Expects arg[0] to be float but double is provided"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(_request(x=[[1.0, 2.0]]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("Matrix size-incompatible")


def test_grpc_metadata(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = MODEL
    req.model_spec.version_label = "stable"
    req.metadata_field.append("signature_def")
    resp = stub.GetModelMetadata(req, timeout=10)
    assert resp.model_spec.name == MODEL and resp.model_spec.version.value == 1
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert resp.metadata["signature_def"].Unpack(sig_map)
    sig = sig_map.signature_def["serving_default"]
    assert sig.inputs["x"].dtype == types_pb2.DT_FLOAT
    assert [d.size for d in sig.outputs["y"].tensor_shape.dim] == [-1, 1]
    req.metadata_field[:] = ["nope"]
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = MODEL
    resp = stub.GetModelStatus(req, timeout=10)
    assert [(s.version, s.state) for s in resp.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]
    assert all(s.status.error_code == 0 for s in resp.model_version_status)
    req.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelStatus(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Could not find any versions of model nope"


@pytest.mark.parametrize("rpc", ["Predict", "Classify", "Regress", "GetModelMetadata", "GetModelStatus"])
def test_grpc_missing_model_spec_and_empty_name(channel, rpc):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    requests = {"Predict": predict_pb2.PredictRequest, "Classify": classification_pb2.ClassificationRequest,
                "Regress": regression_pb2.RegressionRequest,
                "GetModelMetadata": get_model_metadata_pb2.GetModelMetadataRequest,
                "GetModelStatus": get_model_status_pb2.GetModelStatusRequest}
    stub_class = (model_service_pb2_grpc.ModelServiceStub if rpc == "GetModelStatus"
                  else prediction_service_pb2_grpc.PredictionServiceStub)
    call = getattr(stub_class(channel), rpc)
    req = requests[rpc]()
    if rpc == "GetModelMetadata":
        req.metadata_field.append("signature_def")
    with pytest.raises(grpc.RpcError) as info:
        call(req, timeout=10)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    req.model_spec.signature_name = "serving_default"  # a spec, but no name
    with pytest.raises(grpc.RpcError) as info:
        call(req, timeout=10)
    if rpc == "GetModelStatus":  # get_model_status_impl looks the empty name up
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    else:
        assert (info.value.code(), info.value.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")
