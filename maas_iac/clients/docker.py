"""The one Docker client factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from maas_iac.clients.endpoints import DockerEndpoint

__all__ = ["docker_client", "list_containers", "log_in", "open_docker", "pull_missing"]


def open_docker(endpoint: DockerEndpoint, timeout_s: float = 300) -> Any:
    """A Docker SDK client for ``endpoint``; the caller closes it. ``ssh://`` goes through the
    ``ssh`` program, so the operator's agent, keys and known_hosts apply."""
    import docker

    return docker.DockerClient(base_url=endpoint.host, timeout=timeout_s,
                               use_ssh_client=endpoint.host.startswith("ssh://"))


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
