"""The router's request filter and the replicas' bash health probe, on real containers.

A scratch bridge network with one model-server replica (``maas/serving`` with a real
half-plus-two SavedModel mounted) under the replicas' network alias and one router (the
``maas/haproxy:2.6`` image, the rendered ``haproxy.cfg``, the Router component's command) that
publishes REST and gRPC on 127.0.0.1. No Pulumi: the filter is the configuration's job.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from maas_dataplane.probe import health_command, status_command
from maas_iac.artifacts.router_config import RouterConfig, render_router_config
from maas_iac.components.router import ROUTER_COMMAND, ROUTER_CONFIG_ENV, router_slots

pytestmark = pytest.mark.integration

REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")
SERVING_IMAGE = f"{REGISTRY}/maas/serving:2.21.0"
ROUTER_IMAGE = f"{REGISTRY}/maas/haproxy:2.6"
MODEL = "half-plus-two"
ALIAS = f"{MODEL}-replicas"
LABEL = "maas.test"


def _image(docker_client, ref: str) -> str:
    import docker.errors

    try:
        docker_client.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing; run scripts/build_base_images.sh and scripts/build_serving_image.sh",
                    pytrace=False)
    return ref


def _wait(what: str, check, timeout_s: float = 120, container=None):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = container.logs(tail=30).decode(errors="replace") if container is not None else ""
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.5)


def _health(container) -> str:
    container.reload()
    return (container.attrs["State"].get("Health") or {}).get("Status", "")


@pytest.fixture(scope="module")
def scratch(docker_client, tmp_path_factory):
    """A network of its own; every container started on it is removed at the end."""
    name = f"maas-it-rf-{uuid.uuid4().hex[:8]}"
    net = docker_client.networks.create(name, driver="bridge", labels={LABEL: "router-filter"})
    started: list = []
    try:
        yield net, started
    finally:
        for c in started:
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        net.remove()


@pytest.fixture(scope="module")
def deployed(docker_client, scratch, tmp_path_factory):
    """(replica, router, rest_port, grpc_port), the replica healthy and the router serving it."""
    import docker.errors
    from maas_iac.examples.half_plus_two import export

    net, started = scratch
    models = tmp_path_factory.mktemp("models")
    export(models / MODEL, 1)
    replica = docker_client.containers.create(
        _image(docker_client, SERVING_IMAGE), detach=True,
        name=f"maas-it-replica-{uuid.uuid4().hex[:8]}", labels={LABEL: "router-filter"},
        environment={"MODEL_NAME": MODEL, "TF_CPP_MIN_LOG_LEVEL": "2"},
        volumes={str(models): {"bind": "/models", "mode": "ro"}},
        healthcheck=_healthcheck(),
        networking_config={net.name: docker_client.api.create_endpoint_config(aliases=[ALIAS])},
        network=net.name,
    )
    started.append(replica)
    replica.start()
    _wait("the replica to turn healthy", lambda: _health(replica) == "healthy", 180, replica)
    config = render_router_config(RouterConfig(model_name=MODEL, replica_alias=ALIAS, slots=router_slots(1)))
    try:
        router = docker_client.containers.run(
            _image(docker_client, ROUTER_IMAGE), ROUTER_COMMAND, detach=True,
            name=f"maas-it-router-{uuid.uuid4().hex[:8]}", labels={LABEL: "router-filter"},
            environment={ROUTER_CONFIG_ENV: config}, network=net.name,
            ports={"8501/tcp": ("127.0.0.1", None), "8500/tcp": ("127.0.0.1", None)},
        )
    except docker.errors.APIError as exc:
        pytest.fail(f"router did not start: {exc}")
    started.append(router)
    router.reload()
    ports = router.attrs["NetworkSettings"]["Ports"]
    rest, grpc_port = int(ports["8501/tcp"][0]["HostPort"]), int(ports["8500/tcp"][0]["HostPort"])

    def serving() -> bool:
        try:
            status, body = _http(rest, "GET", f"/v1/models/{MODEL}")
        except OSError:
            return False
        return status == 200 and b"AVAILABLE" in body

    _wait("the router to serve the replica", serving, 60, router)
    return replica, router, rest, grpc_port


def _healthcheck():
    from docker.types import Healthcheck

    return Healthcheck(test=health_command(MODEL), interval=int(1e9), timeout=int(2e9), retries=2,
                       start_period=int(60e9))


def _http(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _predict_rest(port: int) -> list:
    status, body = _http(port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [[1.0], [2.0]]}')
    assert status == 200, body
    return json.loads(body)["predictions"]


def _replica_status(replica) -> str:
    code, out = replica.exec_run(status_command(MODEL))
    assert code == 0, out
    return json.loads(out)["model_version_status"][0]["state"]


# ---------------------------------------------------------------------------- gRPC


def test_a_config_reload_through_the_router_is_permission_denied_and_serving_goes_on(deployed):
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    from maas_iac.examples.predict import predict_grpc

    replica, _, rest, grpc_port = deployed
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            # An empty config: a replica that took it would unload every model.
            stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, (err.value.code(), err.value.details())
    assert err.value.details() == "not served through the router"
    # The replica never saw it: still AVAILABLE, and predictions answer over both protocols.
    assert _replica_status(replica) == "AVAILABLE"
    assert _predict_rest(rest) == [[2.5], [3.0]]
    assert predict_grpc(f"127.0.0.1:{grpc_port}", MODEL, [1.0, 2.0], timeout_s=30) == [2.5, 3.0]


@pytest.mark.parametrize("method", [
    "/tensorflow.ProfilerService/Profile",
    "/tensorflow.serving.ModelService/Unknown",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/no.such.Service/Call",
])
def test_other_grpc_methods_are_permission_denied(deployed, method):
    import grpc

    _, _, _, grpc_port = deployed
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, (err.value.code(), err.value.details())


def test_grpc_status_and_metadata_pass(deployed):
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    _, _, _, grpc_port = deployed
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        req = get_model_status_pb2.GetModelStatusRequest()
        req.model_spec.name = MODEL
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(req, timeout=10)
        meta_req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        meta_req.model_spec.name = MODEL
        meta = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(meta_req, timeout=10)
    assert [s.state for s in status.model_version_status] == [get_model_status_pb2.ModelVersionStatus.AVAILABLE]
    assert meta.model_spec.name == MODEL and "signature_def" in meta.metadata


def test_a_refusal_is_one_trailers_only_headers_frame(deployed):
    """HAProxy 2.6 answers with HEADERS(END_STREAM) carrying grpc-status 7 and the gRPC content type."""
    import socket
    import struct

    _, _, _, grpc_port = deployed

    def literal(name: bytes, value: bytes) -> bytes:  # HPACK literal, new name, not indexed
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    path = b"/tensorflow.serving.ModelService/HandleReloadConfigRequest"
    block = (b"\x83\x86\x04" + bytes([len(path)]) + path + b"\x01\x09localhost"  # POST, http, :path, :authority
             + literal(b"content-type", b"application/grpc") + literal(b"te", b"trailers"))
    frame = lambda kind, flags, stream, payload: (  # noqa: E731
        struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload)
    with socket.create_connection(("127.0.0.1", grpc_port), timeout=10) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
                  + frame(1, 0x4, 1, block) + frame(0, 0x1, 1, b"\x00\x00\x00\x00\x00"))
        buf, frames = b"", []
        while not any(sid == 1 and flags & 1 for _, flags, sid, _ in frames):
            data = s.recv(65536)
            assert data, f"connection closed; frames so far {frames}"
            buf += data
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                n = int.from_bytes(buf[:3], "big")
                frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
                buf = buf[9 + n:]
    stream = [(kind, flags, payload) for kind, flags, sid, payload in frames if sid == 1 and kind != 8]  # not WINDOW_UPDATE
    assert len(stream) == 1 and stream[0][0] == 1 and stream[0][1] & 0x1, stream  # one HEADERS, END_STREAM
    # HAProxy encodes these as plain HPACK literals.
    assert b"grpc-status" in stream[0][2] and b"application/grpc" in stream[0][2], stream[0][2]


# ---------------------------------------------------------------------------- REST


@pytest.mark.parametrize("method,path", [
    ("POST", f"/v1/models/{MODEL}:reload"),
    ("POST", f"/v1/models/{MODEL}"),
    ("PUT", f"/v1/models/{MODEL}:predict"),
    ("DELETE", f"/v1/models/{MODEL}"),
    ("GET", "/monitoring/prometheus/metrics"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/other"),
    ("POST", "/tensorflow.serving.ModelService/HandleReloadConfigRequest"),
    ("GET", "/"),
])
def test_rest_outside_inference_and_status_is_403_from_the_router(deployed, method, path):
    _, _, rest, _ = deployed
    status, body = _http(rest, method, path, b"{}" if method in ("POST", "PUT") else None)
    assert status == 403, (status, body)
    assert json.loads(body) == {"error": "not served through the router"}


def test_rest_inference_status_and_metadata_pass(deployed):
    _, _, rest, _ = deployed
    assert _predict_rest(rest) == [[2.5], [3.0]]
    status, body = _http(rest, "POST", f"/v1/models/{MODEL}/versions/1:predict", b'{"instances": [[5.0]]}')
    assert (status, json.loads(body)) == (200, {"predictions": [[4.5]]})
    status, body = _http(rest, "GET", f"/v1/models/{MODEL}")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = _http(rest, "GET", f"/v1/models/{MODEL}/versions/1")
    assert status == 200
    status, body = _http(rest, "GET", f"/v1/models/{MODEL}/metadata")
    assert status == 200 and "signature_def" in json.loads(body)["metadata"]
    # The server's own answers still pass: classify is 501 from the replica, not 403.
    status, body = _http(rest, "POST", f"/v1/models/{MODEL}:classify", b'{"examples": []}')
    assert status != 403, body


# ---------------------------------------------------------------------------- health probe


def test_the_replica_health_check_is_bash_only_and_passes(deployed, docker_client):
    replica, *_ = deployed
    test = docker_client.api.inspect_container(replica.id)["Config"]["Healthcheck"]["Test"]
    assert test == health_command(MODEL)
    assert test[:3] == ["CMD", "/bin/bash", "-c"]
    assert not {"python", "python3", "curl", "wget"} & set(" ".join(test).split())
    replica.reload()
    log = replica.attrs["State"]["Health"]["Log"]
    # Exit 2 (no answer yet) while the server started, then 0.
    assert log and log[-1]["ExitCode"] == 0 and {e["ExitCode"] for e in log} <= {0, 2}, log
    code, _ = replica.exec_run(health_command(MODEL)[1:])
    assert code == 0


def test_the_probe_fails_until_the_model_is_available(docker_client, scratch, tmp_path):
    """A server whose model dir has no loadable version yet: exit 1 (not 2: the server answers),
    Docker calls it unhealthy once the start period is over; a version arriving makes it pass."""
    from docker.types import Healthcheck
    from maas_iac.examples.half_plus_two import export

    net, started = scratch
    models = tmp_path / "models"
    (models / MODEL).mkdir(parents=True)
    os.chmod(models, 0o755)
    replica = docker_client.containers.run(
        _image(docker_client, SERVING_IMAGE), ["--file_system_poll_wait_seconds=1"], detach=True,
        name=f"maas-it-replica-{uuid.uuid4().hex[:8]}", labels={LABEL: "router-filter"},
        environment={"MODEL_NAME": MODEL, "TF_CPP_MIN_LOG_LEVEL": "2"},
        volumes={str(models): {"bind": "/models", "mode": "ro"}}, network=net.name,
        healthcheck=Healthcheck(test=health_command(MODEL), interval=int(1e9), timeout=int(2e9), retries=2),
    )
    started.append(replica)

    def probe_exit() -> int:
        return replica.exec_run(health_command(MODEL)[1:])[0]

    code = _wait("the server to answer", lambda: (lambda c: c if c != 2 else None)(probe_exit()), 120, replica)
    assert code == 1
    _wait("Docker to mark it unhealthy", lambda: _health(replica) == "unhealthy", 30, replica)
    replica.reload()
    # 1: answered, not AVAILABLE; 2: no answer yet; -1: Docker's timeout on a busy machine.
    assert {e["ExitCode"] for e in replica.attrs["State"]["Health"]["Log"]} <= {-1, 1, 2}
    # A version lands in the (bind-mounted) base path: the server loads it, the probe passes.
    staging = tmp_path / "staging"
    export(staging, 1)
    shutil.move(str(staging / "1"), str(models / MODEL / "1"))
    _wait("the probe to pass", lambda: probe_exit() == 0, 120, replica)
    _wait("Docker to mark it healthy", lambda: _health(replica) == "healthy", 30, replica)
