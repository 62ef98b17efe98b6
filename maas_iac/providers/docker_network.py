"""A user-defined Docker network (one bridge per stack)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from ._common import GONE, changed_keys, docker_client, docker_endpoint, docker_props, plain

_INPUTS = ("name", "driver", "internal", "labels")


class NetworkProvider(ResourceProvider):
    """CRUD for a Docker network. Networks are immutable: any change replaces."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        with docker_client(props) as client:
            net = client.networks.create(
                props["name"],
                driver=props["driver"],
                internal=props["internal"],
                labels=props["labels"] or {},
                check_duplicate=True,
            )
        return CreateResult(net.id, {**{k: plain(props[k]) for k in _INPUTS}, "network_id": net.id,
                                     "docker": docker_props(props)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors

        with docker_client(props) as client:
            try:
                net = client.networks.get(id_)
            except docker.errors.NotFound:
                return GONE
        attrs = net.attrs
        return ReadResult(id_, {
            **props,
            "name": attrs["Name"],
            "driver": attrs["Driver"],
            "internal": bool(attrs.get("Internal")),
            "labels": attrs.get("Labels") or {},
            "network_id": id_,
        })

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_keys(olds, {**news, "labels": news.get("labels") or {}}, _INPUTS)
        if docker_endpoint(olds).host != docker_endpoint(news).host:  # another engine, not another login
            changed.append("docker")
        # The name is fixed, so the old network must go before the new one can exist.
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        with docker_client(props) as client:
            try:
                client.networks.get(id_).remove()
            except docker.errors.NotFound:
                pass


class Network(pulumi.dynamic.Resource, module="docker", name="Network"):
    """A Docker network on the engine ``docker`` names.

    Outputs: every input, plus ``network_id``.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        name: pulumi.Output[str]
        driver: pulumi.Output[str]
        internal: pulumi.Output[bool]
        labels: pulumi.Output[dict[str, str]]
        network_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        driver: pulumi.Input[str] = "bridge",
        internal: pulumi.Input[bool] = False,
        labels: Optional[pulumi.Input[dict[str, str]]] = None,
        docker: Optional[pulumi.Input[dict[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param name: the network's name in Docker (containers use it to join).
        :param driver: network driver; ``bridge`` for a single host.
        :param internal: no route to the outside when true.
        :param labels: Docker labels on the network.
        :param docker: the engine, ``DockerEndpoint.to_props()``; unset, the local socket.
        """
        props = {
            "name": name,
            "driver": driver,
            "internal": internal,
            "labels": labels or {},
            "network_id": None,
            "docker": docker,
        }
        super().__init__(NetworkProvider(), resource_name, props, opts)
