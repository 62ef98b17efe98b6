"""The Container provider's diff on plain dicts, as the engine hands them over after a refresh."""

from __future__ import annotations

from maas_iac.providers.docker_container import ContainerProvider, _normalise

NEWS = {
    "image": "127.0.0.1:5000/maas/m@sha256:" + "a" * 64,
    "name": "local-m-0a1b2c3d",
    "name_prefix": "local-m",
    "auto_name": True,
    "command": ["--model_config_file=/models/models.config"],
    "env": {},
    "labels": {"maas.model": "m"},
    "network": "local-maas",
    "aliases": ["m-replicas"],
    "ports": [],
    "healthcheck": {"test": ["CMD", "/bin/bash", "-c", "exit 0"], "interval_s": 1, "timeout_s": 2,
                    "retries": 3, "start_period_s": 30},
    "restart": "unless-stopped",
    "stop_grace_period_s": 15,
    "healthy_timeout_s": 300,
}


def _olds(**live):
    """What the state holds after a refresh: the normalised inputs plus the observed state."""
    return {**_normalise(NEWS), "container_id": "c0ffee", "running": True, "status": "running",
            "health": "healthy", "image_id": "sha256:" + "b" * 64, "host_ports": [], **live}


def test_a_healthy_container_is_unchanged():
    diff = ContainerProvider().diff("c0ffee", _olds(), dict(NEWS))
    assert not diff.changes and not diff.replaces


def test_a_container_still_starting_is_unchanged():
    diff = ContainerProvider().diff("c0ffee", _olds(health="starting"), dict(NEWS))
    assert not diff.changes and not diff.replaces


def test_a_container_without_a_health_check_is_unchanged():
    diff = ContainerProvider().diff("c0ffee", _olds(health=""), dict(NEWS))
    assert not diff.changes


def test_an_unhealthy_container_is_replaced_before_the_old_one_goes():
    diff = ContainerProvider().diff("c0ffee", _olds(health="unhealthy"), dict(NEWS))
    assert diff.changes and diff.replaces == ["health"]
    # A generated name and no fixed host port: the new replica starts (and turns healthy)
    # before the unhealthy one is removed.
    assert not diff.delete_before_replace


def test_an_unhealthy_container_with_a_fixed_name_goes_first():
    news = {**NEWS, "name": "local-m-router", "auto_name": False}
    olds = {**_olds(health="unhealthy"), "name": "local-m-router", "auto_name": False}
    diff = ContainerProvider().diff("c0ffee", olds, news)
    assert diff.replaces == ["health"] and diff.delete_before_replace


def test_a_stopped_container_is_replaced_once_for_running():
    diff = ContainerProvider().diff("c0ffee", _olds(running=False, status="exited", health="unhealthy"), dict(NEWS))
    assert diff.replaces == ["running"]
