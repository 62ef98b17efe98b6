"""The Docker providers' check and diff on plain dicts: what replaces, what updates in place,
what must be deleted first, and what a preview with unknown values assumes.

``olds`` are what the engine hands ``diff``: the outputs of the last create, update or
refresh (the normalised inputs plus the live fields).
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc

from maas_iac.clients.endpoints import LOCAL_DOCKER_HOST
from maas_iac.providers.docker_container import ContainerProvider, _normalise
from maas_iac.providers.docker_image import RegistryImageProvider
from maas_iac.providers.docker_network import NetworkProvider
from maas_iac.providers.docker_sweeper import _SweeperProvider

UNKNOWN = rpc.UNKNOWN
LOCAL = {"host": LOCAL_DOCKER_HOST}


def replica(**changes: Any) -> dict[str, Any]:
    """The inputs of a replica as the program registers them (generated name, no host port)."""
    props = {
        "image": "127.0.0.1:5000/maas/m@sha256:" + "ab" * 32,
        "name": "local-m-0a1b2c3d",
        "name_prefix": "local-m",
        "auto_name": True,
        "command": ["--model_config_file=/models/models.config", "--drain_seconds=5"],
        "env": {},
        "labels": {"maas.stack": "local", "maas.model": "m", "maas.digest": "d" * 64},
        "network": "maas-local",
        "aliases": ["m-replicas"],
        "ports": [],
        "healthcheck": {"test": ["CMD", "python3", "-c", "probe"], "interval_s": 1.0, "timeout_s": 2.0,
                        "retries": 30, "start_period_s": 0.0},
        "restart": "unless-stopped",
        "cpus": 1.0,
        "memory_mb": 1024,
        "stop_grace_period_s": 10,
        "healthy_timeout_s": 120,
        "docker": LOCAL,
    }
    props.update(changes)
    return props


def router(**changes: Any) -> dict[str, Any]:
    """A router's inputs: fixed name and fixed host ports."""
    props = replica(name="local-m-router", name_prefix=None, auto_name=None, healthcheck=None, cpus=None,
                    memory_mb=None, aliases=[], labels={"maas.stack": "local", "maas.model": "m", "maas.role": "router"},
                    ports=[{"internal": 8501, "external": 8501, "host_ip": "127.0.0.1"},
                           {"internal": 8500, "external": 8500, "host_ip": "127.0.0.1"}])
    props.update(changes)
    return props


def deployed(props: dict[str, Any], **live: Any) -> dict[str, Any]:
    """The outputs a create stored for ``props``."""
    return {**_normalise(props), "container_id": "c" * 64, "running": True, "status": "running",
            "health": "healthy", "image_id": "sha256:" + "1" * 64, "host_ports": [], **live}


def container_diff(olds: dict[str, Any], news: dict[str, Any]):
    return ContainerProvider().diff("c" * 64, olds, news)


# -- Container.check --------------------------------------------------------------------------


def test_check_generates_a_name_once_and_keeps_it_on_updates() -> None:
    provider = ContainerProvider()
    news = replica(name=None, auto_name=None)
    first = provider.check({}, news)
    assert not first.failures
    assert first.inputs["auto_name"] is True and first.inputs["name"].startswith("local-m-")
    assert len(first.inputs["name"]) == len("local-m-") + 8
    again = provider.check(deployed(first.inputs), news)
    assert again.inputs["name"] == first.inputs["name"]
    # A replacement is checked again without olds: a fresh name, so both can exist at once.
    assert provider.check({}, news).inputs["name"] != first.inputs["name"]
    # Another prefix is another name.
    assert provider.check(deployed(first.inputs), replica(name=None, auto_name=None, name_prefix="x")).inputs[
        "name"].startswith("x-")


def test_check_keeps_a_fixed_name_and_refuses_an_unknown_restart_policy() -> None:
    result = ContainerProvider().check({}, router(restart="sometimes"))
    assert result.inputs["name"] == "local-m-router" and not result.inputs.get("auto_name")
    assert [(f.property, "unknown restart policy 'sometimes'" in f.reason) for f in result.failures] == [
        ("restart", True)]
    assert not ContainerProvider().check({}, router()).failures


# -- Container.diff ---------------------------------------------------------------------------


def test_same_inputs_are_no_change() -> None:
    for props in (replica(), router()):
        result = container_diff(deployed(props), props)
        assert (result.changes, result.replaces) == (False, [])


@pytest.mark.parametrize("key, value", [
    ("image", "127.0.0.1:5000/maas/m@sha256:" + "cd" * 32),
    ("command", ["--model_config_file=/models/models.config", "--drain_seconds=9"]),
    ("env", {"A": "1"}),
    ("labels", {"maas.stack": "local", "maas.model": "m", "maas.digest": "e" * 64}),
    ("network", "maas-other"),
    ("aliases", ["other"]),
    ("ports", [{"internal": 8501, "external": 0}]),
    ("healthcheck", {"test": ["CMD", "true"]}),
])
def test_identity_keys_replace(key: str, value: Any) -> None:
    result = container_diff(deployed(replica()), replica(**{key: value}))
    assert result.changes and result.replaces == [key]


def test_a_new_fixed_name_replaces() -> None:
    result = container_diff(deployed(router()), router(name="local-m-router2"))
    assert result.changes and result.replaces == ["name"] and result.delete_before_replace


@pytest.mark.parametrize("key, value", [
    ("restart", "always"), ("cpus", 2.0), ("memory_mb", 2048), ("stop_grace_period_s", 30), ("healthy_timeout_s", 60),
])
def test_settings_update_in_place(key: str, value: Any) -> None:
    result = container_diff(deployed(replica()), replica(**{key: value}))
    assert result.changes and result.replaces == []


@pytest.mark.parametrize("key", ["cpus", "memory_mb"])
def test_removing_a_limit_replaces(key: str) -> None:
    # Docker updates a limit in place but cannot remove one.
    result = container_diff(deployed(replica()), replica(**{key: None}))
    assert result.changes and result.replaces == [key]
    assert not result.delete_before_replace  # a replica: generated name, no host port


def test_defaults_filled_in_by_normalise_are_no_change() -> None:
    # Ports and health check written with their defaults omitted compare equal to the stored form.
    sparse = router(ports=[{"internal": 8501, "external": 8501}, {"internal": 8500, "external": 8500}])
    assert not container_diff(deployed(router()), sparse).changes
    short_hc = replica(healthcheck={"test": ["CMD", "python3", "-c", "probe"], "interval_s": 1, "timeout_s": 2,
                                    "retries": 30})
    assert not container_diff(deployed(replica()), short_hc).changes


def test_a_fixed_name_or_a_fixed_host_port_is_deleted_before_the_replacement() -> None:
    assert container_diff(deployed(router()), router(image="other:1")).delete_before_replace
    # Generated name but one fixed host port: the port cannot be bound twice.
    fixed_port = replica(ports=[{"internal": 8501, "external": 18501}])
    assert container_diff(deployed(fixed_port), {**fixed_port, "image": "other:1"}).delete_before_replace
    # Generated name, no fixed port: create-before-delete.
    assert not container_diff(deployed(replica()), replica(image="other:1")).delete_before_replace
    # Docker picks the host port (external 0): still create-before-delete.
    picked = replica(ports=[{"internal": 8501, "external": 0}])
    assert not container_diff(deployed(picked), {**picked, "image": "other:1"}).delete_before_replace


def test_unknown_values_in_a_preview_are_assumed_to_change() -> None:
    # A new image digest is unknown until the image is pushed: the replica is replaced.
    result = container_diff(deployed(replica()), replica(image=UNKNOWN))
    assert result.changes and result.replaces == ["image"] and not result.delete_before_replace
    # The router's network name unknown (network replaced): delete-first, fixed name and ports.
    result = container_diff(deployed(router()), router(network=UNKNOWN))
    assert result.changes and result.replaces == ["network"] and result.delete_before_replace
    # An unknown inside a value counts too.
    result = container_diff(deployed(replica()), replica(labels={"maas.stack": "local", "maas.digest": UNKNOWN}))
    assert result.replaces == ["labels"]
    # An unknown in-place setting changes without replacing.
    result = container_diff(deployed(replica()), replica(cpus=UNKNOWN))
    assert result.changes and result.replaces == [] and not result.delete_before_replace
    # Unknown ports: whether one is fixed cannot be told, so the old container goes first.
    result = container_diff(deployed(replica()), replica(ports=UNKNOWN))
    assert result.replaces == ["ports"] and result.delete_before_replace


def test_a_container_a_refresh_found_stopped_is_replaced() -> None:
    result = container_diff(deployed(replica(), running=False, status="exited"), replica())
    assert result.changes and result.replaces == ["running"]
    result = container_diff(deployed(router(), running=False, status="exited"), router())
    assert result.replaces == ["running"] and result.delete_before_replace


def test_another_docker_host_replaces() -> None:
    result = container_diff(deployed(replica()), replica(docker={"host": "ssh://ops@gpu-1"}))
    assert result.changes and result.replaces == ["docker"]


def test_state_without_the_docker_key_is_the_local_socket() -> None:
    # State recorded before the engine was an input has no "docker": it ran on the local socket.
    old = {k: v for k, v in deployed(replica()).items() if k != "docker"}
    assert not container_diff(old, replica()).changes
    assert not container_diff(old, replica(docker=None)).changes
    assert container_diff(old, replica(docker={"host": "tcp://127.0.0.1:2376"})).replaces == ["docker"]


# -- Network.diff -----------------------------------------------------------------------------


def network(**changes: Any) -> dict[str, Any]:
    return {"name": "maas-local", "driver": "bridge", "internal": False, "labels": {"maas.stack": "local"},
            "docker": LOCAL, **changes}


def network_outputs(props: dict[str, Any]) -> dict[str, Any]:
    return {**props, "network_id": "n" * 64}


def test_network_same_inputs_are_no_change() -> None:
    result = NetworkProvider().diff("n" * 64, network_outputs(network()), network())
    assert (result.changes, result.replaces) == (False, [])


@pytest.mark.parametrize("key, value", [
    ("name", "maas-other"), ("driver", "overlay"), ("internal", True), ("labels", {"maas.stack": "x"}),
])
def test_any_network_change_replaces_delete_first(key: str, value: Any) -> None:
    result = NetworkProvider().diff("n" * 64, network_outputs(network()), network(**{key: value}))
    assert result.changes and result.replaces == [key] and result.delete_before_replace


def test_network_labels_unset_equal_empty_and_docker_host() -> None:
    old = network_outputs(network(labels={}))
    assert not NetworkProvider().diff("n", old, network(labels=None)).changes
    no_docker = {k: v for k, v in network_outputs(network()).items() if k != "docker"}
    assert not NetworkProvider().diff("n", no_docker, network()).changes
    assert NetworkProvider().diff("n", no_docker, network(docker={"host": "ssh://ops@gpu-1"})).replaces == ["docker"]


# -- RegistryImage.diff -----------------------------------------------------------------------


def image(**changes: Any) -> dict[str, Any]:
    return {"context": "/cache/contexts/abc", "dockerfile": "Dockerfile", "registry": "127.0.0.1:5000",
            "repository": "maas/m", "tag": "md-0123456789ab", "build_args": {},
            "labels": {"org.opencontainers.image.revision": "a" * 40}, "docker": LOCAL, **changes}


def image_outputs(props: dict[str, Any]) -> dict[str, Any]:
    ref = f"{props['registry']}/{props['repository']}"
    return {**props, "image_ref": f"{ref}:{props['tag']}", "repo_digest": f"{ref}@sha256:{'ab' * 32}", "built": True}


@pytest.mark.parametrize("key, value", [
    ("registry", "127.0.0.1:5001"), ("repository", "maas/other"), ("tag", "md-ba9876543210"),
])
def test_image_identity_replaces(key: str, value: Any) -> None:
    result = RegistryImageProvider().diff("i", image_outputs(image()), image(**{key: value}))
    assert result.changes and result.replaces == [key]


@pytest.mark.parametrize("key, value", [
    ("context", "/elsewhere/contexts/abc"), ("dockerfile", "Dockerfile.serving"), ("build_args", {"A": "1"}),
    ("labels", {}), ("docker", {"host": "ssh://ops@builder"}),
])
def test_nothing_but_the_identity_is_compared(key: str, value: Any) -> None:
    # The tag names the content: where and how it was built changes nothing.
    result = RegistryImageProvider().diff("i", image_outputs(image()), image(**{key: value}))
    assert (result.changes, result.replaces) == (False, [])


def test_an_unknown_tag_is_a_replacement() -> None:
    result = RegistryImageProvider().diff("i", image_outputs(image()), image(tag=UNKNOWN))
    assert result.changes and result.replaces == ["tag"]


PINNED = "sha256:" + "cd" * 32


def test_a_pin_on_the_tag_the_stack_has_is_an_update_not_a_replacement() -> None:
    olds = image_outputs(image())
    result = RegistryImageProvider().diff("i", olds, image(pinned_digest=PINNED, promoted_from="local"))
    assert (result.changes, result.replaces) == (True, [])
    same = RegistryImageProvider().diff("i", olds, image(pinned_digest=f"sha256:{'ab' * 32}"))
    assert (same.changes, same.replaces) == (False, [])


def test_a_pinned_image_is_never_built_only_checked(monkeypatch) -> None:
    from maas_iac.errors import PromotionError
    from maas_iac.providers import docker_image

    answers = {"md-0123456789ab": PINNED}
    monkeypatch.setattr(docker_image, "manifest_digest", lambda registry, repo, tag: answers.get(tag))
    monkeypatch.setattr(docker_image, "docker_client", lambda props: pytest.fail("a pinned image was built"))
    props = image(pinned_digest=PINNED, promoted_from="local", context="")
    result = RegistryImageProvider().create(props)
    assert result.outs["repo_digest"] == f"127.0.0.1:5000/maas/m@{PINNED}" and result.outs["built"] is False
    answers.clear()
    with pytest.raises(PromotionError, match="missing in the registry.*maas promote m --from local"):
        RegistryImageProvider().create(props)


# -- ContainerSweeper.diff ---------------------------------------------------------------------


def sweeper(**changes: Any) -> dict[str, Any]:
    return {"labels": {"maas.stack": "local"}, "keep": ["a" * 64, "b" * 64], "docker": LOCAL, **changes}


@pytest.mark.parametrize("news", [
    sweeper(keep=UNKNOWN),
    sweeper(keep=["a" * 64, UNKNOWN]),
    sweeper(labels=UNKNOWN),
    sweeper(labels={"maas.stack": UNKNOWN}),
])
def test_sweeper_with_unknowns_is_an_update_never_a_replacement(news: dict[str, Any]) -> None:
    # No Docker call: the ids are not known before the containers exist (docker is unreachable here).
    result = _SweeperProvider().diff("s", {**sweeper(), "removed": []}, {**news, "docker": {"host": "unix:///run/maas-no-engine-here/docker.sock"}})
    assert result.changes and result.replaces == []


@pytest.mark.parametrize("news", [sweeper(keep=["c" * 64]), sweeper(labels={"maas.stack": "other"})])
def test_sweeper_with_other_containers_or_labels_is_an_update(news: dict[str, Any]) -> None:
    result = _SweeperProvider().diff("s", {**sweeper(), "removed": []}, {**news, "docker": {"host": "unix:///run/maas-no-engine-here/docker.sock"}})
    assert result.changes and result.replaces == []


def test_sweeper_keep_order_does_not_matter_and_then_docker_is_asked() -> None:
    # Same set of ids: the diff asks the engine for orphans (tests/integration/test_sweeper.py);
    # an engine that does not answer is an error, never "no change".
    import docker.errors

    news = sweeper(keep=["b" * 64, "a" * 64], docker={"host": "unix:///run/maas-no-engine-here/docker.sock"})
    with pytest.raises(docker.errors.DockerException):
        _SweeperProvider().diff("s", {**sweeper(), "removed": []}, news)
