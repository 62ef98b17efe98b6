"""The replicas' Docker health check: the data plane's bash probe, the model name as data."""

from __future__ import annotations

import pytest

from maas_dataplane.contract import REST_PORT
from maas_dataplane.probe import PROBE_SCRIPT, health_command, status_command

NAMES = ["half-plus-two", "m", "a-b-c-1"]


@pytest.mark.parametrize("model", NAMES)
def test_the_health_check_is_a_constant_bash_script_with_the_model_as_an_argument(model):
    cmd = health_command(model)
    assert cmd[:4] == ["CMD", "/bin/bash", "-c", PROBE_SCRIPT]
    assert cmd[4:] == ["maas-probe", "health", model, str(REST_PORT)]


def test_the_script_text_does_not_depend_on_the_model():
    scripts = {health_command(m)[3] for m in NAMES} | {status_command(m)[2] for m in NAMES}
    assert scripts == {PROBE_SCRIPT}
    assert "half-plus-two" not in PROBE_SCRIPT


def test_a_hostile_name_stays_one_argument():
    hostile = "m'; rm -rf / #$(id)"
    cmd = health_command(hostile)
    assert cmd[3] == PROBE_SCRIPT and cmd[6] == hostile and len(cmd) == 8


def test_no_interpreter_or_http_client_beyond_bash():
    words = " ".join(health_command("m")).split()
    for tool in ("python", "python3", "curl", "wget", "nc"):
        assert tool not in words


def test_the_replicas_use_the_probe():
    import inspect

    import maas_iac.components as components
    from maas_iac.components import serving_replicas

    assert "health_probe" not in components.__all__ and not hasattr(serving_replicas, "health_probe")
    assert "health_command(s.model_name)" in inspect.getsource(serving_replicas.ServingReplicas.__init__)
