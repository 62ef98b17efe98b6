"""Helpers shared by the dynamic providers.

Dynamic providers are pickled (by reference, since they live in an importable module) into
the state and run in a separate provider process. So nothing here holds a client: every
method opens its own Docker or Kafka client and closes it before returning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from pulumi.dynamic import ReadResult

from maas_iac.clients.endpoints import DockerEndpoint

GONE = ReadResult("", {})
"""What `read` returns when the live object no longer exists: an empty id tells `pulumi
refresh` to drop the resource from the state, so the next `up` creates it again."""


def docker_client(props: Mapping[str, Any]) -> AbstractContextManager[Any]:
    """A Docker SDK client for the engine in a resource's ``docker`` input, closed on exit."""
    from maas_iac.clients.docker import docker_client as client_for

    return client_for(docker_endpoint(props))


def docker_endpoint(props: Mapping[str, Any]) -> DockerEndpoint:
    """The engine a resource lives on (the local one for state recorded before it was an input)."""
    return DockerEndpoint.from_props(props.get("docker"))


def docker_props(props: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's ``docker`` input as its outputs record it: as given (the engine keeps the
    registry password in it a secret, as it was in the inputs), the local engine when unset."""
    given = props.get("docker")
    return plain(given) if given and given.get("host") else DockerEndpoint().to_props()


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """The keys among `keys` whose value differs between olds and news (missing == None)."""
    return [k for k in keys if olds.get(k) != news.get(k)]


def plain(value: Any) -> Any:
    """Deep copy of inputs into plain dicts/lists, the only shapes the state can hold."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def has_unknowns(value: Any) -> bool:
    """Whether a (deserialised) input holds a value a preview does not know yet."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknowns(v) for v in value)
    return value == rpc.UNKNOWN
