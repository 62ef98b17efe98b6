"""The one Docker client factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from maas_iac.clients.endpoints import DockerEndpoint

__all__ = ["docker_client", "list_containers", "open_docker"]


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
