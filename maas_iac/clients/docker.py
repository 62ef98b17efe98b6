"""The one Docker client factory."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from maas_iac.clients.endpoints import DockerEndpoint
from maas_iac.clients.ssh_relay import relay_for

__all__ = ["docker_client", "list_containers", "log_in", "open_docker", "pull_missing"]


def open_docker(endpoint: DockerEndpoint, timeout_s: float = 300) -> Any:
    """A Docker SDK client for ``endpoint``; the caller closes it. ``ssh://`` goes through the
    ``ssh`` program (:mod:`maas_iac.clients.ssh_relay`), so the operator's agent, keys and
    known_hosts apply; ``tcp://`` is TLS with the endpoint's client certificate, the engine's
    certificate checked against its CA."""
    import docker

    from maas_iac.errors import InfrastructureError

    if endpoint.host.startswith("tcp://"):
        tls, scratch = _tls_config(endpoint)
        client = docker.DockerClient.__new__(docker.DockerClient)
        client.api = _explicit_ca_api()(base_url=endpoint.host, timeout=timeout_s, tls=tls)
        if scratch is not None:
            weakref.finalize(client, shutil.rmtree, scratch, True)
        return client
    if endpoint.host.startswith("ssh://"):
        relay = relay_for(endpoint.host)
        try:
            return docker.DockerClient(base_url=relay.base_url, timeout=timeout_s)
        except docker.errors.DockerException as exc:
            why = relay.last_error or str(exc)
            raise InfrastructureError(f"Docker host {endpoint.host} does not answer over ssh: {why}") from exc
    return docker.DockerClient(base_url=endpoint.host, timeout=timeout_s)


def _explicit_ca_api() -> type:
    """The SDK's API client, with requests' ``trust_env`` off: with it on, REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE in the environment replaces the engine's CA, and the engine's certificate
    fails verification against the system's CAs."""
    import docker

    class ExplicitCAAPIClient(docker.APIClient):
        trust_env = property(lambda self: False, lambda self, value: None)

    return ExplicitCAAPIClient


def _tls_config(endpoint: DockerEndpoint) -> tuple[Any, Optional[str]]:
    """The SDK's TLS settings; PEM texts go to a private directory (0700) the client's life long,
    since the SDK reads files only."""
    import docker.tls

    from maas_iac.errors import InfrastructureError

    tls = endpoint.tls
    if tls is None:
        raise InfrastructureError(f"Docker host {endpoint.host} is tcp:// without TLS: set maas:dockerTls")
    scratch: Optional[str] = None

    def path(file: Optional[str], pem: Any, name: str) -> str:
        nonlocal scratch
        if file:
            return os.path.expanduser(file)
        if scratch is None:
            scratch = tempfile.mkdtemp(prefix="maas-docker-tls-")
        target = os.path.join(scratch, name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(str(pem))
        return target

    try:
        config = docker.tls.TLSConfig(
            client_cert=(path(tls.cert_file, tls.cert, "cert.pem"), path(tls.key_file, tls.key, "key.pem")),
            ca_cert=path(tls.ca_file, tls.ca, "ca.pem"), verify=True)
    except docker.errors.TLSParameterError as exc:
        raise InfrastructureError(f"Docker host {endpoint.host}: {exc}; fix maas:dockerTls") from exc
    return config, scratch


@contextmanager
def docker_client(endpoint: DockerEndpoint, timeout_s: float = 300) -> Iterator[Any]:
    """:func:`open_docker` as a context manager that closes the client on exit."""
    client = open_docker(endpoint, timeout_s)
    try:
        yield client
    finally:
        client.close()


def list_containers(client: Any, labels: list[str]) -> list[Any]:
    """Every container (running or not) with all of ``labels`` (``key=value``), inspected.

    A container removed between the listing and its inspection (a rollout deletes replicas at any
    moment) is left out, where the SDK's own ``list`` fails with NotFound.
    """
    import docker.errors

    found = []
    for sparse in client.containers.list(all=True, sparse=True, filters={"label": labels}):
        try:
            found.append(client.containers.get(sparse.id))
        except docker.errors.NotFound:
            pass
    return found


def log_in(client: Any, endpoint: DockerEndpoint) -> None:
    """Log the client in to the endpoint's registry, when it has a login, so that its pulls
    (``FROM`` lines of builds too) and pushes authenticate. The engine checks the registry's
    certificate against its own CAs (``/etc/docker/certs.d/<registry>/ca.crt``)."""
    import docker.errors

    from maas_iac.clients.registry import credentials
    from maas_iac.errors import RegistryError

    registry = endpoint.registry
    login = credentials(registry) if registry is not None else None
    if login is None:
        return
    try:
        client.login(username=login.username, password=login.password, registry=registry.address, reauth=True)
    except docker.errors.APIError as exc:
        reason = exc.explanation or str(exc)
        raise RegistryError(
            f"registry {registry.address} refused the Docker engine {endpoint.host}'s login as {login.username!r} "
            f"({reason}); check maas:registryAuth, and that the engine trusts the registry's CA "
            f"(/etc/docker/certs.d/{registry.address}/ca.crt on that host)") from exc


def pull_missing(client: Any, endpoint: DockerEndpoint, image: str) -> None:
    """Pull ``image`` unless the engine has it, logged in when it lives in the stack's registry."""
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    if endpoint.registry_for(image) is not None:
        log_in(client, endpoint)
    client.images.pull(image)
