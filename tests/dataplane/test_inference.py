"""Classify, Regress, MultiInference, TF1 session models, input shapes, TFLite, the Unix
socket and Prometheus metrics, against one real server process.

Models (generated here, see ``models.py``): ``tf1`` (an Estimator-style graph-mode export with
a serialized tf.Example placeholder), ``ref`` (graph-mode reference variables), ``elem`` (a
TF2 element-wise model declared ``[-1, 1]``), ``tf2cls`` (TF2 classify/regress signatures) and
``lite`` (``model.tflite`` served with ``--prefer_tflite_model``).
"""

from __future__ import annotations

import base64
import math

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from . import models
from .conftest import ServerProcess, http

S1, S2 = 1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(2.0))  # sigmoid(1), sigmoid(-2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    builders = {"tf1": models.tf1_estimator, "ref": models.tf1_ref_variables, "elem": models.tf2_elementwise,
                "tf2cls": models.tf2_classifier, "lite": models.tflite_model}
    entries = []
    for name, build in builders.items():
        (root / name).mkdir()
        build(root / name / "1")
        entries.append(f'config {{ name: "{name}" base_path: "{root / name}" model_platform: "tensorflow" }}')
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "\n".join(entries) + "\n}\n")
    monitoring = root / "monitoring.config"
    monitoring.write_text('prometheus_config: {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n')
    sock = root / "grpc.sock"
    proc = ServerProcess([f"--model_config_file={config}", "--prefer_tflite_model=true",
                          f"--grpc_socket_path={sock}", f"--monitoring_config_file={monitoring}"],
                         root / "server.log")
    proc.socket_path = str(sock)
    proc.root = root
    try:
        for name in builders:
            proc.wait_available(name, 1)
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield prediction_service_pb2_grpc.PredictionServiceStub(ch)


def _close(results, expected):
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        if isinstance(want, list):
            _close(got, want)
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-6)
        else:
            assert got == want


# ----------------------------------------------------------------------- REST classify/regress


@pytest.mark.parametrize("model,signature", [("tf1", None), ("tf1", "classification"), ("tf2cls", "classify")])
def test_rest_classify(server, model, signature):
    body = {"examples": [{"x": 1.0}, {"x": -2.0}]}
    if signature:
        body["signature_name"] = signature
    code, doc, raw = http("POST", f"{server.rest}/v1/models/{model}:classify", body)
    assert code == 200, raw
    _close(doc["results"], [[["neg", 1 - S1], ["pos", S1]], [["neg", 1 - S2], ["pos", S2]]])


def test_rest_regress_with_context(server):
    # Each example is the context merged with it: the example's own "x" wins.
    body = {"signature_name": "regression", "context": {"x": 3.0}, "examples": [{}, {"x": 1.0}]}
    code, doc, raw = http("POST", f"{server.rest}/v1/models/tf1/versions/1:regress", body)
    assert (code, doc) == (200, {"results": [3.5, 2.5]}), raw


def test_rest_regress_tf2(server):
    code, doc, raw = http("POST", f"{server.rest}/v1/models/tf2cls:regress",
                          {"signature_name": "regress", "examples": [{"x": 1.0}, {"x": 4.0}]})
    assert (code, doc) == (200, {"results": [2.5, 4.0]}), raw


@pytest.mark.parametrize("verb,body,message", [
    ("classify", {"examples": []}, "JSON Value: {\"examples\":[]} 'examples' value is an empty array"),
    ("classify", {"instances": [1]}, "JSON Value: {\"instances\":[1]} When method is classify, key 'examples' "
                                     "is expected and was not found"),
    ("regress", {"examples": {"x": 1}}, "JSON Value: {\"examples\":{\"x\":1}} Expecting 'examples' value to be "
                                        "an list/array"),
    ("classify", {"examples": [[1.0]]}, "Example must be JSON object but got JSON Array"),
    ("classify", {"examples": [{"x": [1, 2.0]}]}, "Unexpected element type in feature: x expecting type: int64"),
    ("classify", {"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
    ("classify", {"examples": [{"x": [[1.0]]}]}, "Feature: x has element with unexpected JSON type: Array"),
    ("classify", {"examples": [{"x": 18446744073709551615}]},
     "Feature: x has uint64_t element. Only int64_t is supported."),
    ("classify", {"signature_name": 3, "examples": [{}]},
     "JSON Value: {\"signature_name\":3,\"examples\":[{}]} not formatted correctly. 'signature_name' key must be "
     "a string value."),
    ("classify", {"signature_name": "nope", "examples": [{"x": 1.0}]}, "No signature was found with the name: nope"),
    ("classify", {"signature_name": "regression", "examples": [{"x": 1.0}]},
     'Expected classification signature outputs to contain at least one of "classes" or "scores". '),
    ("regress", {"signature_name": "classification", "examples": [{"x": 1.0}]}, "Expected one output Tensor."),
    ("classify", {"examples": [{"x": "a"}]}, None),  # parse_example refuses a bytes feature for a float
])
def test_rest_classify_regress_errors(server, verb, body, message):
    code, doc, raw = http("POST", f"{server.rest}/v1/models/tf1:{verb}", body)
    assert code == 400, raw
    assert list(doc) == ["error"]
    if message is not None:
        assert doc["error"].startswith(message), doc["error"]


def test_rest_predict_on_serialized_examples(server):
    b64 = base64.b64encode(models.example(1.0)).decode()
    code, doc, raw = http("POST", f"{server.rest}/v1/models/tf1:predict",
                          {"signature_name": "predict", "instances": [{"b64": b64}]})
    assert code == 200, raw
    _close([doc["predictions"][0]["y"]], [[2.5]])
    _close(doc["predictions"][0]["scores"], [1 - S1, S1])


# ----------------------------------------------------------------------- input shapes


def test_shapes_other_than_declared_are_passed_to_tensorflow(server):
    # elem declares x as [-1, 1]; TensorFlow computes [3] (TF Serving's own half_plus_two
    # example sends exactly this).
    code, doc, raw = http("POST", f"{server.rest}/v1/models/elem:predict", {"instances": [1.0, 2.0, 5.0]})
    assert (code, doc) == (200, {"predictions": [2.5, 3.0, 4.5]}), raw
    code, doc, _ = http("POST", f"{server.rest}/v1/models/elem:predict", {"inputs": [[[1.0, 2.0]]]})
    assert (code, doc) == (200, {"outputs": [[[2.5, 3.0]]]})
    # the TF1 session model too
    code, doc, raw = http("POST", f"{server.rest}/v1/models/ref:predict", {"instances": [1.0, 2.0]})
    assert (code, doc) == (200, {"predictions": [4.0, 7.0]}), raw
    # and TensorFlow's refusal is reported as its own INVALID_ARGUMENT (its text depends on the
    # MatMul kernel the CPU gets: "ndims must be >= 2" or "... has different ndims ...")
    code, doc, _ = http("POST", f"{server.rest}/v1/models/elem:predict",
                        {"signature_name": "matmul", "instances": [1.0, 2.0]})
    assert code == 400 and "ndims" in doc["error"] and "[Op:" not in doc["error"], doc


def test_declared_shapes_still_serve(server):
    code, doc, _ = http("POST", f"{server.rest}/v1/models/elem:predict", {"instances": [[1.0], [2.0]]})
    assert (code, doc) == (200, {"predictions": [[2.5], [3.0]]})
    assert "Signature 'serving_default' of elem version 1: " in server.log()


def test_grpc_shape_and_dtype(stub):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "ref"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0, 3.0], np.float32)))
    y = tf.make_ndarray(stub.Predict(req, timeout=10).outputs["y"])
    np.testing.assert_allclose(y, [4.0, 7.0, 10.0])
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float64)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Expects arg[0] to be float but double is provided"


# ----------------------------------------------------------------------- gRPC


def _input(values, context=None):
    inp = classification_pb2.ClassificationRequest().input
    from tensorflow.core.example import example_pb2

    target = inp.example_list_with_context if context is not None else inp.example_list
    if context is not None:
        target.context.features.feature["x"].float_list.value.append(context)
    for v in values:
        ex = target.examples.add()
        if v is not None:
            ex.features.feature["x"].float_list.value.append(v)
    assert isinstance(ex, example_pb2.Example)
    return inp


@pytest.mark.parametrize("model,signature", [("tf1", ""), ("tf2cls", "classify")])
def test_grpc_classify(stub, model, signature):
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    req.input.CopyFrom(_input([1.0, -2.0]))
    resp = stub.Classify(req, timeout=10)
    assert resp.model_spec.name == model and resp.model_spec.version.value == 1
    assert resp.model_spec.signature_name == (signature or "serving_default")
    got = [[(c.label, c.score) for c in item.classes] for item in resp.result.classifications]
    assert [[label for label, _ in row] for row in got] == [["neg", "pos"], ["neg", "pos"]]
    np.testing.assert_allclose([[s for _, s in row] for row in got], [[1 - S1, S1], [1 - S2, S2]], rtol=1e-6)


@pytest.mark.parametrize("model,signature", [("tf1", "regression"), ("tf2cls", "regress")])
def test_grpc_regress(stub, model, signature):
    req = regression_pb2.RegressionRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    req.input.CopyFrom(_input([None, 1.0], context=3.0))
    resp = stub.Regress(req, timeout=10)
    assert [r.value for r in resp.result.regressions] == [3.5, 2.5]
    assert resp.model_spec.signature_name == signature


def test_grpc_classify_errors(stub):
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "tf1"
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(req, timeout=10)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
    req.input.CopyFrom(_input([1.0]))
    req.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_multi_inference(stub):
    req = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regression", "regress"), ("classification", "classify")):
        task = req.tasks.add()
        task.model_spec.name = "tf1"
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{method}"
    req.input.CopyFrom(_input([1.0]))
    resp = stub.MultiInference(req, timeout=10)
    assert len(resp.results) == 2
    assert resp.results[0].regression_result.regressions[0].value == 2.5
    assert resp.results[0].model_spec.signature_name == "regression"
    assert resp.results[1].classification_result.classifications[0].classes[1].label == "pos"
    assert resp.results[1].model_spec.version.value == 1


@pytest.mark.parametrize("mutate,code,message", [
    (lambda r: setattr(r.tasks[1].model_spec, "name", "elem"), grpc.StatusCode.INVALID_ARGUMENT,
     "All ModelSpecs in a MultiInferenceRequest must access the same model name."),
    (lambda r: setattr(r.tasks[1].model_spec, "signature_name", "regression"), grpc.StatusCode.INVALID_ARGUMENT,
     "Duplicate evaluation of signature: regression"),
    (lambda r: setattr(r.tasks[1], "method_name", "tensorflow/serving/predict"), grpc.StatusCode.UNIMPLEMENTED,
     "Unsupported signature method_name: tensorflow/serving/predict"),
    (lambda r: setattr(r.tasks[1].model_spec, "signature_name", "nope"), grpc.StatusCode.INVALID_ARGUMENT,
     "Requested signature not found in model graph: nope"),
    (lambda r: r.ClearField("tasks"), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
])
def test_grpc_multi_inference_errors(stub, mutate, code, message):
    req = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regression", "regress"), ("classification", "classify")):
        task = req.tasks.add()
        task.model_spec.name = "tf1"
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{method}"
    req.input.CopyFrom(_input([1.0]))
    mutate(req)
    with pytest.raises(grpc.RpcError) as info:
        stub.MultiInference(req, timeout=10)
    assert (info.value.code(), info.value.details()) == (code, message)


def test_metadata_lists_tf1_signatures(server, stub):
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "tf1"
    req.metadata_field.append("signature_def")
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(req, timeout=10).metadata["signature_def"].Unpack(sig_map)
    methods = {k: v.method_name for k, v in sig_map.signature_def.items()}
    assert methods == {"serving_default": "tensorflow/serving/classify",
                       "classification": "tensorflow/serving/classify",
                       "regression": "tensorflow/serving/regress", "predict": "tensorflow/serving/predict"}
    inputs = sig_map.signature_def["classification"].inputs["inputs"]
    assert inputs.name == "input_example_tensor:0" and inputs.dtype == types_pb2.DT_STRING
    code, doc, _ = http("GET", f"{server.rest}/v1/models/tf1/metadata")
    assert code == 200
    assert set(doc["metadata"]["signature_def"]["signature_def"]) == set(methods)


# ----------------------------------------------------------------------- Unix socket, TFLite


def test_grpc_on_the_unix_socket(server):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "elem"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))
    with grpc.insecure_channel(f"unix:{server.socket_path}") as ch:
        resp = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(req, timeout=10)
    assert list(resp.outputs["y"].float_val) == [3.0]


def test_tflite_model_is_served_with_its_signatures(server, stub):
    assert "lite version 1: TFLite model" in server.log()
    code, doc, raw = http("POST", f"{server.rest}/v1/models/lite:predict", {"instances": [[1.0], [2.0]]})
    assert (code, doc) == (200, {"predictions": [[2.5], [3.0]]}), raw
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "lite"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[4.0]], np.float32)))
    assert list(stub.Predict(req, timeout=10).outputs["y"].float_val) == [4.0]
    code, doc, _ = http("GET", f"{server.rest}/v1/models/lite/metadata")
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT" and sig["outputs"]["y"]["dtype"] == "DT_FLOAT"


# ----------------------------------------------------------------------- Prometheus


def test_prometheus_metrics_with_tf_serving_names(server, stub):
    http("POST", f"{server.rest}/v1/models/tf1:classify", {"examples": [{"x": 1.0}]})
    http("POST", f"{server.rest}/v1/models/tf1:classify", {"examples": []})
    code, _, raw = http("GET", f"{server.rest}/monitoring/prometheus/metrics")
    assert code == 200
    text = raw.decode()
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert ':tensorflow:serving:request_count{model_name="tf1",status="OK"} ' in text
    assert ':tensorflow:serving:request_count{model_name="tf1",status="INVALID_ARGUMENT"} ' in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="tf1",API="classify",entrypoint="REST",le="10"} ' in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="tf1",API="classify",entrypoint="REST",le="+Inf"} ' in text
    assert ':tensorflow:serving:request_latency_count{model_name="tf1",API="classify",entrypoint="REST"} ' in text
    path = server.root / "tf1" / "1"
    assert f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{path}",status="success"}} 1' in text
    assert f':tensorflow:cc:saved_model:load_latency{{model_path="{path}"}} ' in text
    code, _, raw = http("GET", f"{server.rest}/monitoring/prometheus/metricsX")
    assert code == 400 and raw.decode() == (
        "Unexpected path: /monitoring/prometheus/metricsX. Should be /monitoring/prometheus/metrics")
