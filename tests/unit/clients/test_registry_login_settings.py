"""The registry login: where it comes from, where it travels, and that it never shows."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from maas_iac.clients.endpoints import Connections, DockerEndpoint, RegistryEndpoint
from maas_iac.clients.registry import base_url, credentials
from maas_iac.errors import RegistryError
from maas_iac.spec import load_stack_config

STACK = {
    "registry": "registry.example.com:5443",
    "dockerHost": "ssh://deploy@docker-1.example.com",
    "kafka": {"bootstrapServers": "127.0.0.1:9092"},
    "registryAuth": {"username": "maas", "password": "s3cret-registry-pass", "caFile": "~/ca.crt"},
}


def test_the_stack_login_reaches_the_registry_and_the_engine() -> None:
    connections = Connections.from_stack(load_stack_config(STACK, stack="staging"))
    assert connections.registry == RegistryEndpoint(
        address="registry.example.com:5443", username="maas", password="s3cret-registry-pass", ca_file="~/ca.crt")
    # the engine pulls and pushes with it: it travels in every Docker resource's `docker` input
    assert connections.docker.registry == connections.registry
    assert connections.docker.registry_for("registry.example.com:5443/maas/m@sha256:" + "0" * 64)
    assert connections.docker.registry_for("docker.io/library/haproxy:2.6") is None
    assert "s3cret" not in repr(connections)


def test_no_login_keeps_the_docker_input_as_it_was() -> None:
    """The local stack's resources keep their recorded inputs: no new key, no diff."""
    local = dict(STACK, registry="127.0.0.1:5000", dockerHost="unix:///var/run/docker.sock")
    del local["registryAuth"]
    connections = Connections.from_stack(load_stack_config(local, stack="local"))
    assert connections.docker.to_props() == {"host": "unix:///var/run/docker.sock"}
    assert base_url(connections.registry) == "http://127.0.0.1:5000"


def test_a_registry_with_a_ca_or_a_login_is_asked_over_tls_even_on_the_loopback() -> None:
    assert base_url(RegistryEndpoint(address="127.0.0.1:5443", ca_file="/ca.pem")) == "https://127.0.0.1:5443"
    assert base_url(RegistryEndpoint(address="127.0.0.1:5443", username="u", password="p")) == "https://127.0.0.1:5443"
    assert base_url("registry.example.com") == "https://registry.example.com"


def test_the_props_form_makes_the_password_a_pulumi_secret_and_back() -> None:
    import pulumi

    endpoint = RegistryEndpoint(address="r:5443", username="maas", password="pw", ca_file="/ca")
    props = endpoint.to_props()
    assert isinstance(props["password"], pulumi.Output)
    # in the provider process the engine hands the plaintext back
    assert RegistryEndpoint.from_props({**props, "password": "pw"}) == endpoint
    docker = DockerEndpoint(host="ssh://x@y", registry=endpoint)
    assert DockerEndpoint.from_props({**docker.to_props(), "registry": {**props, "password": "pw"}}) == docker
    # state recorded before logins held the bare address
    assert RegistryEndpoint.from_props("r:5443") == RegistryEndpoint(address="r:5443")


def test_a_password_in_clear_in_the_stack_file_is_refused(tmp_path: Path) -> None:
    from maas_iac.spec.stack import check_stack_file

    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(
        "config:\n"
        "  maas:registry: registry.example.com\n"
        "  maas:dockerHost: unix:///var/run/docker.sock\n"
        "  maas:kafka:\n"
        "    bootstrapServers: 127.0.0.1:9092\n"
        "  maas:registryAuth:\n"
        "    username: maas\n"
        "    password: hunter2\n")
    _, problems, _ = check_stack_file(path, stack="staging", display=str(path))
    [problem] = problems
    assert problem.line == 8 and "clear text" in problem.message
    assert problem.fix == "store it as a secret: pulumi config set --secret --path 'maas:registryAuth.password' <value>"
    assert "hunter2" not in str(problem)


def test_a_login_needs_both_parts_and_one_source() -> None:
    from maas_iac.errors import StackConfigError

    for auth in ({"username": "maas"}, {"password": "x"},
                 {"username": "maas", "password": "x", "credentialHelper": "pass"},
                 {"credentialHelper": "../../bin/sh"}):
        with pytest.raises(StackConfigError):
            load_stack_config(dict(STACK, registryAuth=auth), stack="staging")


def _helper(tmp_path: Path, script: str) -> None:
    program = tmp_path / "docker-credential-maastest"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)


def test_a_credential_helper_answers_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the helper protocol: `get` with the server on stdin, JSON with Username and Secret out
    _helper(tmp_path, 'read server; [ "$1" = get ] && [ "$server" = "r.example.com:5443" ] && '
                      'echo "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"robot\\",\\"Secret\\":\\"tok\\"}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    login = credentials(RegistryEndpoint(address="r.example.com:5443", credential_helper="maastest"))
    assert (login.username, login.password) == ("robot", "tok")
    assert "tok" not in repr(login)


def test_a_helper_without_a_login_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _helper(tmp_path, "echo 'credentials not found in native keychain'; exit 1\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RegistryError, match="docker-credential-maastest get found no login"):
        credentials(RegistryEndpoint(address="r.example.com", credential_helper="maastest"))
    with pytest.raises(RegistryError, match="docker-credential-absent failed"):
        credentials(RegistryEndpoint(address="r.example.com", credential_helper="absent"))
