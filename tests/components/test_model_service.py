"""ModelService under Pulumi mocks: exact children, names, parents and key inputs."""

from __future__ import annotations

import pulumi
import pytest

from maas_dataplane.probe import health_command
from maas_iac.components import (
    EventArgs, ModelImageArgs, ModelService, ModelServiceArgs, ModelTopicsArgs, ReplicaSettings, RouterArgs,
    TopicArgs, router_slots,
)
from maas_iac.clients import Connections
from maas_iac.plan import model_service_args
from maas_iac.resolve import Resolver
from maas_iac.spec import load_stack_config
from maas_iac.spec.model import LatestVersions, Metadata, ModelServiceSpec, Ports, Serving, Source


def _args(model: str, replicas: int = 2, rest: int = 8501, grpc: int = 8500, tag: str = "md-0123456789ab") -> ModelServiceArgs:
    labels = {"maas.stack": "local", "maas.model": model, "maas.digest": "d" * 64}
    return ModelServiceArgs(
        image=ModelImageArgs(context=f"/tmp/ctx/{model}", registry="127.0.0.1:5000", repository=f"maas/{model}", tag=tag,
                             labels={"org.opencontainers.image.revision": "a" * 40}),
        replicas=ReplicaSettings(model_name=model, replicas=replicas, network="maas-local",
                                     alias=f"{model}-replicas", server_args=["--model_config_file=/models/models.config"],
                                     labels=labels, name_prefix=f"local-{model}", cpus=1.0, memory_mb=1024),
        router=RouterArgs(model_name=model, image="127.0.0.1:5000/maas/haproxy:2.6", network="maas-local",
                          replica_alias=f"{model}-replicas", replicas=replicas, bind_address="127.0.0.1",
                          rest_port=rest, grpc_port=grpc, labels=labels, name=f"local-{model}-router"),
        topics=ModelTopicsArgs(
            requests=TopicArgs(f"local.{model}.requests", 3, 1, {"retention.ms": "604800000"}),
            predictions=TopicArgs(f"local.{model}.predictions", 3, 1, {})),
        event=EventArgs(bootstrap_servers="127.0.0.1:9092", topic="local.model-events", stack="local",
                        git_sha="a" * 40, repository="/srv/models", digest="d" * 64, versions=[1]),
    )


def _deploy(*services: tuple[str, ModelServiceArgs]) -> None:
    """Construct the services and wait until every registration reached the mocks."""

    @pulumi.runtime.test
    def construct():
        built = [ModelService(name, args) for name, args in services]
        return pulumi.Output.all(*[s.image for s in built])

    construct()


def test_two_models_register_exact_children(mocks):
    _deploy(("half-plus-two", _args("half-plus-two")), ("iris", _args("iris", replicas=3, rest=8601, grpc=8600)))
    regs = mocks.by_name()
    for model, n in (("half-plus-two", 2), ("iris", 3)):
        service = regs[model]
        assert service.type_ == "maas:index:ModelService"
        for child, token in (("image", "ModelImage"), ("replicas", "ServingReplicas"), ("router", "Router"), ("topics", "ModelTopics")):
            assert regs[f"{model}-{child}"].type_ == f"maas:index:{token}"
            assert regs[f"{model}-{child}"].parent.endswith(f"maas:index:ModelService::{model}")
        assert regs[f"{model}-image-image"].type_.endswith("docker:RegistryImage")
        assert regs[f"{model}-image-image"].inputs["tag"] == "md-0123456789ab"
        replicas = [r for r in mocks.registrations if r.name.startswith(f"{model}-replicas-")]
        assert sorted(r.name for r in replicas) == [f"{model}-replicas-{i}" for i in range(n)]
        for r in replicas:
            assert r.type_.endswith("docker:Container")
            assert r.parent.endswith(f"maas:index:ServingReplicas::{model}-replicas")
            assert r.inputs["image"] == f"127.0.0.1:5000/maas/{model}@sha256:{'ab' * 32}"
            assert r.inputs["aliases"] == [f"{model}-replicas"]
            assert r.inputs["ports"] == []  # replicas publish nothing; only the router does
            assert r.inputs["labels"]["maas.model"] == model
            assert r.inputs["stop_grace_period_s"] > 5  # longer than the drain
            assert r.inputs["healthcheck"]["test"] == health_command(model)
        router = regs[f"{model}-router-haproxy"]
        assert {p["host_ip"] for p in router.inputs["ports"]} == {"127.0.0.1"}
        assert "server-template r 8" in router.inputs["env"]["HAPROXY_CONFIG"]
        topics = {regs[f"{model}-topics-{k}"].inputs["name"] for k in ("requests", "predictions")}
        assert topics == {f"local.{model}.requests", f"local.{model}.predictions"}
        assert {regs[f"{model}-topics-{k}"].type_ for k in ("requests", "predictions")} == {"kafka:index/topic:Topic"}
        event = regs[f"{model}-deployed"]
        assert event.type_.endswith("events:ModelVersionEvent")
        assert event.inputs["git_sha"] == "a" * 40 and event.inputs["topic"] == "local.model-events"
        assert event.inputs["image"] == f"127.0.0.1:5000/maas/{model}@sha256:{'ab' * 32}"


def _planned(model_repo, tmp_path, replicas: int) -> ModelServiceArgs:
    """The arguments the program builds for one model on a stack that overrides its replicas."""
    stack = load_stack_config({"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
                               "kafka": {"bootstrapServers": "127.0.0.1:9092"}, "replicas": {"m": replicas}},
                              stack="local")
    spec = ModelServiceSpec(metadata=Metadata(name="m"),
                            source=Source(repository=str(model_repo.path), ref="main", path="models/m",
                                          versions=LatestVersions(count=1)),
                            serving=Serving(ports=Ports(rest=8501, grpc=8500), base_image="serving:1"))
    model = Resolver(tmp_path / "cache").resolve(spec, stack)
    return model_service_args(model, stack, Connections.from_stack(stack), "maas-local", "local.model-events")


def test_replica_count_change_leaves_the_image_alone(mocks, model_repo, tmp_path):
    _deploy(("m", _planned(model_repo, tmp_path, replicas=2)))
    first = {r.name: r.inputs for r in mocks.registrations if r.name.startswith("m-image")}
    assert len([r for r in mocks.registrations if r.name.startswith("m-replicas-")]) == 2
    mocks.registrations.clear()
    _deploy(("m", _planned(model_repo, tmp_path, replicas=3)))
    second = {r.name: r.inputs for r in mocks.registrations if r.name.startswith("m-image")}
    assert first and first == second
    assert second["m-image-image"]["tag"].startswith("md-")
    assert len([r for r in mocks.registrations if r.name.startswith("m-replicas-")]) == 3


@pulumi.runtime.test
def test_endpoints_point_at_the_routers_host_ports(mocks):
    svc = ModelService("half-plus-two", _args("half-plus-two"))

    def check(values):
        rest, grpc = values
        assert rest == "http://127.0.0.1:8501/v1/models/half-plus-two"
        assert grpc == "127.0.0.1:8500"

    return pulumi.Output.all(svc.rest_endpoint, svc.grpc_endpoint).apply(check)


@pytest.mark.parametrize("replicas,slots", [(1, 8), (2, 8), (3, 8), (4, 16), (7, 16), (8, 24)])
def test_router_slots_hold_old_and_new_replicas(replicas: int, slots: int) -> None:
    assert router_slots(replicas) == slots
    assert router_slots(replicas) >= 2 * replicas
