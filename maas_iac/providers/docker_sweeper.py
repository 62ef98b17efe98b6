"""Removes a stack's orphaned containers: labelled with the stack, unknown to its state.

An ``up`` interrupted while a container was being created (the CLI killed, the machine
rebooted) leaves a container that Docker runs but no state records: the engine only kept a
pending operation. Such an orphan may even serve traffic under the replicas' network alias.
This resource runs after every container of the stack and removes each container carrying the
stack's label that is neither one of the containers the program declares now (``keep``) nor
one the previous run declared (those the engine itself deletes after a replacement). A preview
shows it as an update when orphans exist, so they are drift like any other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from maas_iac.clients.docker import list_containers

from ._common import docker_client, has_unknowns

STOP_TIMEOUT_S = 30
"""Grace period of an orphan's stop (a replica drains first, as on a normal delete)."""


def _orphans(client: Any, labels: dict[str, str], known: set[str]) -> list[Any]:
    return [c for c in list_containers(client, [f"{k}={v}" for k, v in sorted(labels.items())])
            if c.id not in known]


def _remove(containers: list[Any]) -> None:
    import docker.errors

    def remove(container: Any) -> None:
        try:
            container.stop(timeout=STOP_TIMEOUT_S)
            container.remove(v=True, force=True)
        except docker.errors.NotFound:
            pass

    if containers:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, containers))


def _sweep(props: dict[str, Any], also_known: list[str]) -> list[str]:
    with docker_client(props) as client:
        orphans = _orphans(client, dict(props["labels"]), set(props["keep"]) | set(also_known))
        _remove(orphans)
    return sorted(c.name for c in orphans)


class _SweeperProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        removed = _sweep(props, [])
        return CreateResult(f"orphans-{'-'.join(f'{k}.{v}' for k, v in sorted(props['labels'].items()))}",
                            {**props, "removed": removed})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if has_unknowns(news.get("keep")) or has_unknowns(news.get("labels")):
            return DiffResult(changes=True, replaces=[])
        if sorted(olds.get("keep") or []) != sorted(news["keep"]) or olds.get("labels") != news["labels"]:
            return DiffResult(changes=True, replaces=[])
        with docker_client(news) as client:
            orphans = _orphans(client, dict(news["labels"]), set(news["keep"]))
        return DiffResult(changes=bool(orphans), replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        removed = _sweep(news, list(olds.get("keep") or []))
        return UpdateResult({**news, "removed": removed})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Destroy: the declared containers are deleted by the engine; orphans only by us.
        _sweep(props, [])


class ContainerSweeper(pulumi.dynamic.Resource, module="docker", name="ContainerSweeper"):
    """Removes containers that carry ``labels`` but are not in ``keep`` (nor in the previous
    run's ``keep``), after the containers it depends on. Stopped with a grace period, so a
    replica drains as it would on a normal delete.

    Outputs: the inputs, plus ``removed`` (names of the containers the last run removed).
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        keep: pulumi.Output[list[str]]
        removed: pulumi.Output[list[str]]

    def __init__(self, resource_name: str, *, labels: pulumi.Input[dict[str, str]],
                 keep: pulumi.Input[list[str]], docker: Optional[pulumi.Input[dict[str, Any]]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        """
        :param labels: the labels every container of the scope carries, e.g. ``{"maas.stack": "local"}``.
        :param keep: ids of the containers the program declares.
        :param docker: the engine, ``DockerEndpoint.to_props()``; unset, the local socket.
        """
        super().__init__(_SweeperProvider(), resource_name,
                         {"labels": labels, "keep": keep, "removed": None, "docker": docker}, opts)
