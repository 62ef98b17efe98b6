"""Limits on what clients send, parse errors, and a REST fuzz run: never a 500, never a crash.

One server with small limits (1 MiB per body, 4 MiB in flight, gRPC messages up to 64 KiB
through ``--grpc_channel_arguments``) serving half_plus_two.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import REPO, ServerProcess, copy_version, free_port, http

MODEL = "half_plus_two"
MAX_BODY = 1 << 20
INFLIGHT = 4 << 20


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    copy_version(exported[1], root / MODEL, 1)
    proc = ServerProcess([f"--model_name={MODEL}", f"--model_base_path={root / MODEL}",
                          f"--rest_api_max_body_bytes={MAX_BODY}",
                          f"--rest_api_max_inflight_body_bytes={INFLIGHT}",
                          "--grpc_channel_arguments=grpc.max_receive_message_length=65536,"
                          "grpc.max_connection_age_ms=600000"],
                         root / "server.log")
    try:
        proc.wait_available(MODEL, 1)
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


def _alive(server) -> None:
    assert server.proc.poll() is None, server.log()
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", {"instances": [[1.0]]})
    assert (code, doc) == (200, {"predictions": [[2.5]]})


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _raw(server, head: bytes, body: bytes = b"", read_timeout: float = 10.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=read_timeout) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head_end = data.find(b"\r\n\r\n")
        headers = data[:head_end].decode("latin-1")
        length = int(next((ln.split(":", 1)[1] for ln in headers.split("\r\n")
                           if ln.lower().startswith("content-length:")), "0"))
        rest = data[head_end + 4:]
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(headers.split()[1]), rest


# ----------------------------------------------------------------------- JSON


@pytest.mark.parametrize("depth", [400, 100_000])
def test_deeply_nested_json_is_a_400_with_a_json_error(server, depth):
    body = b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"
    code, doc, raw = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", body)
    assert code == 400, raw
    assert doc["error"].startswith("JSON Parse error:"), doc
    _alive(server)


def test_nesting_within_the_limit_reaches_tensorflow(server):
    body = {"inputs": [[[[[[1.0]]]]]]}
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", body)
    assert code == 400 and "JSON Parse error" not in doc["error"]


@pytest.mark.parametrize("body,prefix", [
    # RapidJSON's GetParseError_En texts at its byte offsets, as tensorflow_serving/util/json_tensor.cc
    # ParseJson reports them.
    (b"{not json", "JSON Parse error: Missing a name for object member. at offset: 1"),
    (b'{"instances" [1]}', "JSON Parse error: Missing a colon after a name of object member. at offset: 13"),
    (b'{"instances": [1] "x": 1}', "JSON Parse error: Missing a comma or '}' after an object member. at offset: 18"),
    (b'{"instances": [1 2]}', "JSON Parse error: Missing a comma or ']' after an array element. at offset: 17"),
    (b'{"instances": [tru]}', "JSON Parse error: Invalid value. at offset: 15"),
    (b'{"instances": [1]} x', "JSON Parse error: The document root must not be followed by other values. at offset: 19"),
    (b"  \n ", "JSON Parse error: The document is empty. at offset: 4"),
    (b'{"instances": ["ab', "JSON Parse error: Missing a closing quotation mark in string. at offset: 18"),
    (b'{"instances": ["\\q"]}', "JSON Parse error: Invalid escape character in string. at offset: 16"),
    (b'{"instances": ["\\u12G4"]}', "JSON Parse error: Incorrect hex digit after \\u escape in string. at offset: 16"),
    (b'{"instances": ["a\x01"]}', "JSON Parse error: Invalid encoding in string. at offset: 17"),
    (b'{"\xc3\xa9": 1 "b": 2}', "JSON Parse error: Missing a comma or '}' after an object member. at offset: 9"),
    (b"", "JSON Parse error: The document is empty"),
    (b'{"instances": [1' + b"1" * 5000 + b"]}", "JSON Parse error: Number too big"),
    (b'\xff\xfe{"a": 1}', "JSON Parse error:"),
    (b"[1, 2]", "JSON Value: [1,2] Is not object"),
])
def test_parse_errors(server, body, prefix):
    code, doc, raw = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", body)
    assert code == 400, raw
    assert doc["error"].startswith(prefix), doc["error"]


# ----------------------------------------------------------------------- body sizes


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    # Content-Length says 100 MiB; nothing of the body is sent, yet the answer comes.
    head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {100 << 20}\r\n"
            "Content-Type: application/json\r\n\r\n").encode()
    code, body = _raw(server, head)
    assert code == 413
    assert "exceeds the limit of 1048576 bytes" in json.loads(body)["error"]
    _alive(server)


def test_a_chunked_body_over_the_limit_is_refused(server):
    head = f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"
    code, resp = _raw(server, head, body)
    assert code == 413 and "exceeds the limit" in json.loads(resp)["error"]
    # a small chunked body is fine
    small = b'{"instances": [[1.0]]}'
    code, resp = _raw(server, head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small))
    assert (code, json.loads(resp)) == (200, {"predictions": [[2.5]]})
    _alive(server)


def test_memory_stays_bounded_under_a_flood_of_large_bodies(server):
    before = _rss_kib(server.proc.pid)
    # 40 clients each announce a body just under the limit and send it slowly; at most
    # INFLIGHT bytes of them are held, the rest are refused with 503 before being read.
    size = MAX_BODY - 100
    codes: list[int] = []

    def client() -> None:
        head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n").encode()
        try:
            with socket.create_connection(("127.0.0.1", server.rest_port), timeout=20) as s:
                s.sendall(head)
                s.settimeout(0.5)
                try:
                    early = s.recv(65536)
                except socket.timeout:
                    early = b""
                if early:
                    codes.append(int(early.split()[1]))
                    return
                s.settimeout(20)
                s.sendall(b'{"instances": [[1.0]]}' + b" " * (size - 22))
                codes.append(int(s.recv(65536).split()[1]))
        except OSError:
            codes.append(-1)

    threads = [threading.Thread(target=client) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes.count(200) >= 1 and set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 40 - INFLIGHT // size, codes
    grew = _rss_kib(server.proc.pid) - before
    assert grew < 200 * 1024, f"RSS grew by {grew} KiB"
    _alive(server)


# ----------------------------------------------------------------------- gRPC


def test_grpc_max_receive_message_length_from_channel_arguments(server):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    def request(rows: int):
        req = predict_pb2.PredictRequest()
        req.model_spec.name = MODEL
        req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((rows, 1), np.float32)))
        return req

    with grpc.insecure_channel(server.grpc_target) as ch:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        assert len(stub.Predict(request(100), timeout=10).outputs["y"].float_val) == 100
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request(100_000), timeout=10)  # 400 KB > 64 KiB
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _alive(server)


def test_a_grpc_message_over_the_default_64_mib_is_refused_and_serving_goes_on(start_server, exported, tmp_path):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    copy_version(exported[1], tmp_path / MODEL, 1)
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={tmp_path / MODEL}")
    server.wait_available(MODEL, 1)
    big = predict_pb2.PredictRequest()
    big.model_spec.name = MODEL
    big.inputs["x"].dtype = 1  # DT_FLOAT
    big.inputs["x"].tensor_shape.dim.add().size = (64 << 20) // 4 + 1024
    big.inputs["x"].tensor_shape.dim.add().size = 1
    big.inputs["x"].tensor_content = bytes(((64 << 20) // 4 + 1024) * 4)
    with grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", -1)]) as ch:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(big, timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _alive(server)


# ----------------------------------------------------------------------- config files


def test_a_bad_model_config_file_fails_with_tf_servings_texts(tmp_path):
    config = tmp_path / "bad.config"
    config.write_text("improperly formatted file")
    proc = subprocess.run([sys.executable, "-m", "maas_dataplane.model_server", f"--port={free_port()}",
                           f"--model_config_file={config}"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 255
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in proc.stderr
    assert f"Failed to start server. Error: INVALID_ARGUMENT: Invalid protobuf file: '{config}'" in proc.stdout


def test_a_bad_monitoring_config_file_fails_too(tmp_path, exported):
    config = tmp_path / "monitoring.config"
    config.write_text("prometheus_config { enable: maybe }")
    proc = subprocess.run([sys.executable, "-m", "maas_dataplane.model_server", f"--port={free_port()}",
                           f"--model_base_path={exported[1].parent}", f"--monitoring_config_file={config}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 255
    assert "Error parsing text-format tensorflow.serving.MonitoringConfig" in proc.stderr
    assert f"Invalid protobuf file: '{config}'" in proc.stdout


# ----------------------------------------------------------------------- fuzz

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["instances", "inputs", "x", "signature_name", "examples", "context", "b64"])
        | st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)
_paths = st.sampled_from([
    f"/v1/models/{MODEL}:predict", f"/v1/models/{MODEL}:classify", f"/v1/models/{MODEL}:regress",
    f"/v1/models/{MODEL}/versions/1:predict", f"/v1/models/{MODEL}/labels/x:predict",
    f"/v1/models/{MODEL}/versions/99999999999999999999:predict", f"/v1/models/{MODEL}/metadata",
    f"/v1/models/{MODEL}", "/v1/models", "/v1/", "/", "/monitoring/prometheus/metrics",
]) | st.text(alphabet="/v1models:%?#abcxyz0123456789._-", max_size=40).map(lambda p: "/" + p)


def _body(draw_doc, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps(draw_doc, allow_nan=True).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=_paths, method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
       doc=st.fixed_dictionaries({}, optional={"instances": _json, "inputs": _json, "examples": _json,
                                               "context": _json, "signature_name": _json}) | _json,
       raw=st.none() | st.binary(max_size=64) | st.sampled_from([
           b'{"instances": [1e999]}', b'{"instances": [[1.0]], "instances": 3}', b'{"inputs": NaN}',
           b'{"instances": [' + b"9" * 400 + b"]}", b'{"instances": [-Infinity]}', b"\x00",
           b'{"instances": [{"b64": "@@"}]}', b'{"examples": [{"x": {"b64": "AA=="}}]}',
       ]))
def test_rest_fuzz_never_500_never_crashes(server, path, method, doc, raw):
    import urllib.parse

    url = server.rest + urllib.parse.quote(path, safe="/:%?#")
    body = _body(doc, raw) if method in ("POST", "PUT") else None
    try:
        code, parsed, resp = http(method, url, body, timeout=30)
    except ValueError:  # the client refused a URL it cannot send
        return
    assert code < 500 or code in (501, 503), (code, resp)
    if "/monitoring/" not in path:
        assert isinstance(parsed, dict) and ("error" in parsed) == (code != 200), resp
    assert server.proc.poll() is None, server.log()


def test_still_alive_after_the_fuzz(server):
    time.sleep(0.1)
    _alive(server)
