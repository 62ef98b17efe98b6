"""Every key of every stack file reaches the resources: no setting is validated and then ignored.

Each ``stacks/Pulumi.*.yaml`` is loaded as the program loads it, one model is resolved from a
real Git repository, and the stack is declared under recording mocks. For every ``maas:`` key
the file sets, a check finds its value in some registration. A key without a check fails, so
a new stack key cannot be added without proving where it goes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import pulumi
import pytest

from maas_iac import type_tokens as tokens
from maas_iac.clients import Connections
from maas_iac.kafka.cluster import SASL_MECHANISMS
from maas_iac.program import declare, pinned_model
from maas_iac.resolve import Resolver
from maas_iac.spec import StackConfig, load_stack_config
from maas_iac.spec.model import FrozenMap, LatestVersions, Metadata, ModelServiceSpec, Ports, Serving, Source
from maas_iac.spec.stack import Secret
from maas_iac.spec.reader import read_file

REPO = Path(__file__).resolve().parents[2]
STACK_FILES = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))
MODEL = "half-plus-two"
SPEC_PORTS = Ports(rest=8501, grpc=8500)
PASSWORD = "pw-from-the-engine"
ENDPOINTS: dict[str, str] = {}
"""The declared model's endpoints, as the last declaration gave them."""


def _of_type(regs, token: str):
    return [r for r in regs if r.type_ == token]


def _router(regs):
    return next(r for r in _of_type(regs, tokens.CONTAINER) if r.name.endswith("-router-haproxy"))


def _deployment(regs, child: str):
    return next(r for r in _of_type(regs, tokens.K8S_DEPLOYMENT) if r.name == f"{MODEL}-{child}-deployment")


def _check_bind_address(regs, stack: StackConfig) -> None:
    if stack.engine == "kubernetes":  # kube-proxy publishes the NodePorts; the endpoints name the address
        service = next(r for r in regs if r.type_ == "kubernetes:core/v1:Service" and r.name == f"{MODEL}-router-service")
        assert service.inputs["spec"]["type"] == "NodePort"
        assert ENDPOINTS["rest"].startswith(f"http://{stack.bind_address}:")
        return
    for p in _router(regs).inputs["ports"]:
        assert p["host_ip"] == stack.bind_address


def _check_router_image(regs, stack: StackConfig) -> None:
    if stack.engine == "kubernetes":
        image = _deployment(regs, "router").inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    else:
        image = _router(regs).inputs["image"]
    assert image == stack.router_image


def _check_engine(regs, stack: StackConfig) -> None:
    """Kubernetes runs Deployments and no container; Docker the other way round. Either way
    the Docker engine builds the image."""
    assert _of_type(regs, tokens.REGISTRY_IMAGE)
    if stack.engine == "kubernetes":
        assert not _of_type(regs, tokens.CONTAINER)
        assert {r.name for r in _of_type(regs, tokens.K8S_DEPLOYMENT)} >= {
            f"{MODEL}-replicas-deployment", f"{MODEL}-router-deployment"}
    else:
        assert _replicas(regs) and not _of_type(regs, tokens.K8S_DEPLOYMENT)


def _check_kubernetes(regs, stack: StackConfig) -> None:
    cluster = stack.kubernetes
    [provider] = _of_type(regs, tokens.K8S_PROVIDER)
    assert provider.inputs["kubeconfig"] == os.path.expanduser(cluster.kubeconfig)
    assert provider.inputs.get("context") == cluster.context
    workloads = [r for r in regs if r.type_.startswith(tokens.K8S_PREFIX) and r.type_ != "kubernetes:core/v1:Namespace"]
    assert workloads and all(r.inputs["metadata"]["namespace"] == cluster.namespace for r in workloads)
    assert all(r.provider.startswith(provider.urn) for r in workloads)


def _replicas(regs):
    return [r for r in _of_type(regs, tokens.CONTAINER) if r.parent and r.parent.endswith(f"::{MODEL}-replicas")]


def _topics(regs):
    return _of_type(regs, tokens.TOPIC)


def _docker_resources(regs):
    return [r for r in regs if r.type_ in (tokens.CONTAINER, tokens.NETWORK, tokens.REGISTRY_IMAGE, tokens.CONTAINER_SWEEPER)]


def _check_kafka(regs, stack: StackConfig) -> None:
    k = stack.kafka
    [provider] = _of_type(regs, tokens.KAFKA_PROVIDER)
    assert json.loads(provider.inputs["bootstrapServers"]) == list(k.bootstrap_servers)
    assert provider.inputs["tlsEnabled"] == str(k.security_protocol == "SASL_SSL").lower()
    if k.sasl_username:
        assert (provider.inputs["saslMechanism"], provider.inputs["saslUsername"]) == (
            SASL_MECHANISMS[k.sasl_mechanism], k.sasl_username)
        assert provider.inputs["saslPassword"] == PASSWORD
    topics = _topics(regs)
    assert len(topics) == 3 and all(f"{tokens.KAFKA_PROVIDER}::kafka::" in t.provider
                                    for t in topics)
    users = _of_type(regs, tokens.MODEL_VERSION_EVENT)
    assert users
    for r in users:
        props = r.inputs["kafka"]
        assert props["bootstrap_servers"] == ",".join(k.bootstrap_servers)
        assert props["security_protocol"] == k.security_protocol
        if k.sasl_username:
            assert (props["sasl_mechanism"], props["sasl_username"]) == (k.sasl_mechanism, k.sasl_username)
            assert props["sasl_password"] == PASSWORD


def _check_registry_login(regs, stack: StackConfig) -> None:
    """Every Docker-touching resource pulls and pushes with the login, the password a secret."""
    auth = stack.registry_auth
    for r in _docker_resources(regs):
        login = r.inputs["docker"]["registry"]
        assert login["address"] == stack.registry
        assert (login.get("username"), login.get("ca_file"), login.get("credential_helper")) == (
            auth.username, auth.ca_file, auth.credential_helper)
        if auth.password is not None:
            assert login["password"] == PASSWORD


def _check_docker_tls(regs, stack: StackConfig) -> None:
    tls = stack.docker_tls
    for r in _docker_resources(regs):
        props = r.inputs["docker"]["tls"]
        assert (props.get("ca_file"), props.get("cert_file"), props.get("key_file")) == (
            tls.ca_file, tls.cert_file, tls.key_file)
        if tls.key is not None:
            assert props["key"] == PASSWORD


CHECKS: dict[str, Callable[[list, StackConfig], None]] = {
    "registryAuth": _check_registry_login,
    "dockerTls": _check_docker_tls,
    "registry": lambda regs, stack: [
        _assert(r.inputs["registry"] == stack.registry) for r in _of_type(regs, tokens.REGISTRY_IMAGE)],
    "dockerHost": lambda regs, stack: [
        _assert(r.inputs["docker"]["host"] == stack.docker_host) for r in _docker_resources(regs)],
    "kafka": _check_kafka,
    "bindAddress": _check_bind_address,
    "engine": _check_engine,
    "kubernetes": _check_kubernetes,
    "portOffset": lambda regs, stack: _assert(
        sorted(p["external"] for p in _router(regs).inputs["ports"])
        == sorted((SPEC_PORTS.rest + stack.port_offset, SPEC_PORTS.grpc + stack.port_offset))),
    "servingBaseImage": lambda regs, stack: _assert(
        (Path(_of_type(regs, tokens.REGISTRY_IMAGE)[0].inputs["context"]) / "Dockerfile").read_text()
        .startswith(f"FROM {stack.serving_base_image}\n")),
    "routerImage": _check_router_image,
    "replicas": lambda regs, stack: _assert(
        (_deployment(regs, "replicas").inputs["spec"]["replicas"] if stack.engine == "kubernetes"
         else len(_replicas(regs))) == stack.replicas[MODEL]),
    "protect": lambda regs, stack: [_assert(r.protect is stack.protect) for r in _topics(regs)],
    "promoted": lambda regs, stack: [
        _assert(r.inputs["pinned_digest"] == stack.promoted[MODEL].image) for r in _of_type(regs, tokens.REGISTRY_IMAGE)],
    "network": lambda regs, stack: _assert(
        _of_type(regs, tokens.NETWORK)[0].inputs["name"] == stack.network
        and all(r.inputs["network"] == stack.network for r in _of_type(regs, tokens.CONTAINER))),
}
"""Where each stack key must show up in the registrations."""

GATES = {
    "allowedSources": "checked against every spec's source before anything is declared "
                      "(tests/unit/spec/test_allowed_sources.py, tests/components/test_program_sources.py)",
}
"""Keys that decide whether the program runs at all rather than what it declares, and where
that is proved."""


def _assert(condition: Any) -> None:
    assert condition


def _file_keys(path: Path) -> list[str]:
    config = read_file(path).data["config"]
    return sorted(k.split(":", 1)[1] for k in config if k.startswith("maas:"))


def _engine_view(path: Path) -> StackConfig:
    """The stack as the program sees it: what the engine hands over, secrets decrypted."""
    stack = load_stack_config(path)
    if stack.kafka.sasl_password is not None:
        stack = dataclasses.replace(stack, kafka=dataclasses.replace(stack.kafka, sasl_password=Secret(plaintext=PASSWORD)))
    if stack.registry_auth.password is not None:
        stack = dataclasses.replace(stack, registry_auth=dataclasses.replace(
            stack.registry_auth, password=Secret(plaintext=PASSWORD)))
    if stack.docker_tls is not None and stack.docker_tls.key is not None:
        stack = dataclasses.replace(stack, docker_tls=dataclasses.replace(stack.docker_tls, key=Secret(plaintext=PASSWORD)))
    return stack


def _declare(stack: StackConfig, model_repo, tmp_path: Path) -> None:
    """The program's declaration of the stack for one model resolved from a real repository."""
    spec = ModelServiceSpec(
        metadata=Metadata(name=MODEL),
        source=Source(repository=str(model_repo.path), ref="main", path="models/m", versions=LatestVersions()),
        serving=Serving(ports=SPEC_PORTS))
    if MODEL in stack.promoted:  # the program's pinned path, the registry answering as promoted
        pin = stack.promoted[MODEL]
        labels = {"io.maas-iac.model-digest": pin.digest, "org.opencontainers.image.revision": pin.git_sha}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("maas_iac.program.image_config", lambda *args: {"Labels": labels, "Cmd": ["--x"]})
            model = pinned_model(spec, stack, Connections.from_stack(stack), lambda *args: pin.image, lambda ref: ref)
    else:
        model = Resolver(tmp_path / "cache").resolve(spec, stack)

    @pulumi.runtime.test
    def run():
        services = declare(stack, Connections.from_stack(stack), [model])
        services[0].rest_endpoint.apply(lambda url: ENDPOINTS.update(rest=url))
        return pulumi.Output.all(*[s.image for s in services], services[0].rest_endpoint)

    run()


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_key_reaches_a_registration(path: Path, mocks, model_repo, tmp_path: Path) -> None:
    stack = _engine_view(path)
    _declare(stack, model_repo, tmp_path)
    keys = _file_keys(path)
    assert keys, f"{path.name} sets no maas: key"
    unchecked = [k for k in keys if k not in CHECKS and k not in GATES]
    assert not unchecked, f"no check says where {unchecked} reach the resources; add one to CHECKS"
    for key in keys:
        if key in CHECKS:
            CHECKS[key](mocks.registrations, stack)


def test_a_promoted_model_reaches_its_image(mocks, model_repo, tmp_path: Path) -> None:
    from maas_iac.spec import Promotion

    pin = Promotion(from_stack="local", image="sha256:" + "e" * 64, tag="md-0123456789ab", git_sha="f" * 40,
                    digest="d" * 64, versions=(1,))
    stack = dataclasses.replace(_engine_view(REPO / "stacks" / "Pulumi.local.yaml"), promoted=FrozenMap({MODEL: pin}))
    _declare(stack, model_repo, tmp_path)
    CHECKS["promoted"](mocks.registrations, stack)


def test_the_kafka_password_reaches_every_kafka_resource_as_a_secret(mocks, model_repo, tmp_path: Path) -> None:
    staging = next(p for p in STACK_FILES if p.name == "Pulumi.staging.yaml")
    stack = _engine_view(staging)
    _declare(stack, model_repo, tmp_path)
    [provider] = _of_type(mocks.registrations, tokens.KAFKA_PROVIDER)
    assert provider.is_secret("saslPassword")
    [event] = _of_type(mocks.registrations, tokens.MODEL_VERSION_EVENT)
    assert event.is_secret("kafka", "sasl_password")
    assert not event.is_secret("kafka", "bootstrap_servers")
