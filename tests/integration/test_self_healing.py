"""A replica whose model stays unavailable is replaced by the next ``up``, on the real engine.

Two replicas of a real half-plus-two model (``ServingReplicas``) behind the real router
(``Router``, ``maas/haproxy:2.6``) on a network of their own, deployed with the Automation API.
One replica loses its model: a config reload with an empty config, sent straight to the
replica's address on the test's own Docker network, bypassing the router (what anyone on the
replicas' network could do; the router itself refuses the call). Docker marks it unhealthy, a refresh-preview shows a replace of exactly that
replica, and ``up`` replaces it with a healthy one, while predictions flow through the router.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from polling import wait_until

pytestmark = pytest.mark.integration

REGISTRY = os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000")
SERVING_IMAGE = f"{REGISTRY}/maas/serving:2.21.0"
ROUTER_IMAGE = f"{REGISTRY}/maas/haproxy:2.6"
MODEL = "half-plus-two"

def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _health(docker_client, container_id: str) -> str:
    state = docker_client.api.inspect_container(container_id)["State"]
    return (state.get("Health") or {}).get("Status", "")


def _address(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def _unload_every_model(ip: str) -> None:
    """HandleReloadConfigRequest with an empty model list, to the replica's own gRPC port."""
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from tensorflow_serving.config import model_server_config_pb2

    req = model_management_pb2.ReloadConfigRequest()
    req.config.CopyFrom(model_server_config_pb2.ModelServerConfig(
        model_config_list=model_server_config_pb2.ModelConfigList()))
    with grpc.insecure_channel(f"{ip}:8500") as channel:
        resp = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(req, timeout=60)
    assert resp.status.error_code == 0, resp


@pytest.fixture
def model_image(docker_client, tmp_path: Path):
    import docker.errors
    from maas_iac.examples.half_plus_two import export

    try:
        docker_client.images.get(SERVING_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{SERVING_IMAGE} is missing; run scripts/build_serving_image.sh", pytrace=False)
    context = tmp_path / "model-image"
    export(context / MODEL, 1)
    (context / "Dockerfile").write_text(
        f"FROM {SERVING_IMAGE}\nCOPY {MODEL}/1 /models/{MODEL}/1\nENV MODEL_NAME={MODEL}\n")
    tag = f"maas-it/self-heal:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(path=str(context), tag=tag, rm=True)
    yield tag
    try:
        docker_client.images.remove(tag, force=True)
    except docker.errors.APIError:
        pass


def test_an_unhealthy_replica_is_drift_and_up_replaces_it(inline_stack, docker_client, model_image, capsys):
    import pulumi
    from maas_iac.components import ReplicaSettings, Router, RouterArgs, ServingReplicas, ServingReplicasArgs
    from maas_iac.providers import Network

    from tests.e2e.conftest import GrpcLoop, RequestLoop

    uid = uuid.uuid4().hex[:8]
    labels = {"maas.test": f"self-heal-{uid}", "maas.model": MODEL}
    rest_port, grpc_port = _free_ports(2)

    def program() -> None:
        net = Network("net", name=f"maas-it-sh-{uid}", labels=labels)
        settings = ReplicaSettings(
            model_name=MODEL, replicas=2, network=net.name, alias=f"{MODEL}-replicas",
            # A server that has lost every model exits (and Docker restarts it) after
            # --exit_without_models_seconds; held off here so the replica stays up and unhealthy,
            # which is what the provider's replace-when-unhealthy answers.
            server_args=["--drain_seconds=2", "--exit_without_models_seconds=3600"], labels=labels, name_prefix=f"maas-it-sh-{uid}",
            env={"TF_CPP_MIN_LOG_LEVEL": "2"}, health_interval_s=1, health_timeout_s=2, health_retries=2,
            health_start_period_s=120, drain_seconds=2, healthy_timeout_s=240)
        replicas = ServingReplicas("replicas", ServingReplicasArgs(image=model_image, settings=settings))
        Router("router", RouterArgs(
            model_name=MODEL, image=ROUTER_IMAGE, network=net.name, replica_alias=f"{MODEL}-replicas", replicas=2,
            bind_address="127.0.0.1", rest_port=rest_port, grpc_port=grpc_port,
            labels={**labels, "maas.role": "router"}, name=f"maas-it-sh-{uid}-router"),
            pulumi.ResourceOptions(depends_on=[replicas]))
        pulumi.export("replicas", replicas.container_ids)

    stack = inline_stack(program)
    started = time.monotonic()
    ids = stack.up().outputs["replicas"].value
    deployed_s = time.monotonic() - started
    assert [_health(docker_client, i) for i in ids] == ["healthy", "healthy"]
    rest = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    sick = docker_client.containers.get(ids[0])

    with RequestLoop(rest, rate_per_s=20, max_s=400) as rest_loop, \
            GrpcLoop(f"127.0.0.1:{grpc_port}", MODEL, rate_per_s=5, max_s=400) as grpc_loop:
        # Both loops are answered before anything goes wrong.
        wait_until(lambda: rest_loop.ok >= 20 and grpc_loop.ok >= 5, 30, "the request loops' first answers")
        turned_unhealthy: list[float] = []

        def watch() -> None:
            deadline = time.time() + 120
            while time.time() < deadline:
                if _health(docker_client, sick.id) == "unhealthy":
                    turned_unhealthy.append(time.time())
                    return
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _unload_every_model(_address(sick, f"maas-it-sh-{uid}"))
        unloaded_at, unloaded_wall = time.monotonic(), time.time()
        watcher.join(60)
        assert turned_unhealthy, "the replica never turned unhealthy"
        unhealthy_s = turned_unhealthy[0] - unloaded_wall
        assert _health(docker_client, ids[1]) == "healthy"

        events: list = []
        preview = stack.preview(refresh=True, on_event=events.append)
        steps = [(e.resource_pre_event.metadata.op, e.resource_pre_event.metadata.urn)
                 for e in events if e.resource_pre_event is not None]
        replaced = sorted({urn.rsplit("::", 1)[1] for op, urn in steps if str(getattr(op, "value", op)) == "replace"})
        assert replaced == ["replicas-0"], steps
        summary = {str(getattr(op, "value", op)): n for op, n in preview.change_summary.items()}
        assert {k: v for k, v in summary.items() if k != "same"} == {"replace": 1}, summary

        up_started = time.monotonic()
        result = stack.up(refresh=True)
        up_s = time.monotonic() - up_started
        new_ids = result.outputs["replicas"].value
        # Traffic goes on after the replacement.
        after = (rest_loop.ok, grpc_loop.ok)
        wait_until(lambda: rest_loop.ok >= after[0] + 20 and grpc_loop.ok >= after[1] + 5, 30,
                   "answers after the replacement")

    assert new_ids[1] == ids[1] and new_ids[0] != ids[0]
    assert [_health(docker_client, i) for i in new_ids] == ["healthy", "healthy"]
    assert not docker_client.containers.list(all=True, filters={"id": ids[0]})
    summary = {str(getattr(op, "value", op)): n for op, n in result.summary.resource_changes.items()}
    assert {k: v for k, v in summary.items() if k != "same"} == {"replace": 1}, summary
    # The new replica serves: the router still answers, and both replicas report the model.
    with socket.create_connection(("127.0.0.1", rest_port), timeout=5):
        pass
    for i in new_ids:
        from maas_dataplane.probe import status_command

        code, out = docker_client.containers.get(i).exec_run(status_command(MODEL))
        assert code == 0 and json.loads(out)["model_version_status"][0]["state"] == "AVAILABLE"
    with capsys.disabled():
        print(f"\nself-healing: deployed in {deployed_s:.1f}s; unhealthy {unhealthy_s:.1f}s after the unload; "
              f"up --refresh {up_s:.1f}s\n  REST {rest_loop.summary()}\n  gRPC {grpc_loop.summary()}")
    assert rest_loop.ok > 0 and grpc_loop.ok > 0
    assert set(rest_loop.values) == {2.5} and set(grpc_loop.values) == {2.5}
    # Requests that reached the replica in the moment its model went away (before the router's
    # check marked it down) can fail; after that, none.
    at = [float(f.split("s:", 1)[0]) - (unloaded_at - rest_loop.started)
          for f in rest_loop.failures + grpc_loop.failures]
    with capsys.disabled():
        print(f"  failures from {min(at, default=0):.2f}s to {max(at, default=0):.2f}s after the unload")
    late = [t for t in at if t > 5]
    assert late == [], (late, rest_loop.failures, grpc_loop.failures)
