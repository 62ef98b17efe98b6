"""Runtime checks: what runs on Docker and Kafka against what the stack's state says.

Input is the stack's exported state (``Stack.export_stack().deployment``); each check names
the drifted thing (container or topic name) and says what differs:

* every replica: its container exists and runs, runs the image whose repo digest the state
  recorded (the image id's RepoDigests), and its model server reports AVAILABLE exactly the
  versions the state serves (REST status, over the bridge network or ``docker exec``);
* every router and bridge: its container exists and runs;
* every model's bridge consumer group (:func:`check_bridge_groups`): as many members as the
  state has bridge containers, and its lag on the requests topic (reported, not drift);
* containers labelled ``maas.stack=<stack>`` that the state does not know;
* every topic: exists, partition count, replication factor and the declared config keys only
  (broker defaults are never drift).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from maas_dataplane.contract import REST_PORT
from maas_dataplane.probe import status_command
from maas_iac import type_tokens as tokens
from maas_iac.clients.docker import list_containers
from maas_iac.clients.kafka import GroupLag, bridge_lag

__all__ = ["Finding", "KubeWorkload", "StateView", "check_bridge_groups", "check_containers", "check_topics",
           "model_status"]


@dataclass(frozen=True)
class Finding:
    """One drifted thing and everything found wrong with it."""

    kind: str
    """``replica``, ``router``, ``bridge``, ``container`` or ``deployment`` (unmanaged), ``topic``, ``image``,
    ``event``, ``other``."""
    name: str
    """The container or topic name (the Pulumi resource name when it has none)."""
    problems: tuple[str, ...]
    model: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "model": self.model, "problems": list(self.problems)}


@dataclass(frozen=True)
class KubeWorkload:
    """A Deployment of a Kubernetes stack, as the state declared it."""

    role: str
    """``replica``, ``router`` or ``bridge``."""
    name: str
    """The Deployment's name in the stack's namespace."""
    model: Optional[str]
    spec: Mapping[str, Any]
    """The declared ``spec`` (the resource's inputs)."""


_KUBE_ROLES = {tokens.SERVING_REPLICAS: "replica", tokens.ROUTER: "router", tokens.BRIDGE: "bridge"}


@dataclass
class StateView:
    """The parts of an exported deployment the checks read."""

    replicas: list[Mapping[str, Any]] = field(default_factory=list)
    routers: list[Mapping[str, Any]] = field(default_factory=list)
    bridges: list[Mapping[str, Any]] = field(default_factory=list)
    topics: list[Mapping[str, Any]] = field(default_factory=list)
    served: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Model → versions the state says it serves (its ModelVersionEvent)."""
    network: Optional[str] = None
    workloads: list[KubeWorkload] = field(default_factory=list)
    """The Deployments of a stack whose engine is kubernetes."""

    @classmethod
    def from_deployment(cls, deployment: Mapping[str, Any]) -> StateView:
        resources = deployment.get("resources") or []
        types = {r["urn"]: r.get("type", "") for r in resources}
        view = cls()
        for r in resources:
            outputs = r.get("outputs") or {}
            parent_type = types.get(r.get("parent", ""), "")
            if r.get("type") == tokens.CONTAINER and parent_type == tokens.SERVING_REPLICAS:
                view.replicas.append(outputs)
                view.network = view.network or outputs.get("network")
            elif r.get("type") == tokens.CONTAINER and parent_type == tokens.ROUTER:
                view.routers.append(outputs)
            elif r.get("type") == tokens.CONTAINER and parent_type == tokens.BRIDGE:
                view.bridges.append(outputs)
            elif r.get("type") == tokens.K8S_DEPLOYMENT and parent_type in _KUBE_ROLES:
                inputs = r.get("inputs") or {}
                meta = inputs.get("metadata") or {}
                view.workloads.append(KubeWorkload(_KUBE_ROLES[parent_type], str(meta.get("name")),
                                                   (meta.get("labels") or {}).get("maas.model"),
                                                   inputs.get("spec") or {}))
            elif r.get("type") == tokens.TOPIC:
                view.topics.append(outputs)
            elif r.get("type") == tokens.MODEL_VERSION_EVENT:
                view.served[str(outputs.get("model"))] = tuple(int(v) for v in outputs.get("versions") or [])
        return view


def _model(outputs: Mapping[str, Any]) -> Optional[str]:
    return (outputs.get("labels") or {}).get("maas.model")


def model_status(container: Any, model: str, network: Optional[str], timeout_s: float = 3) -> Mapping[str, Any]:
    """The model server's REST status of ``model`` in ``container``: over the bridge network
    from this host when it can be reached, else through ``docker exec`` (a remote engine)."""
    path = f"/v1/models/{model}"
    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    ip = (networks.get(network) or {}).get("IPAddress") if network else None
    if ip:
        try:
            with urllib.request.urlopen(f"http://{ip}:{REST_PORT}{path}", timeout=timeout_s) as response:
                return json.loads(response.read())
        except OSError:
            pass
    result = container.exec_run(status_command(model))
    if result.exit_code != 0:
        raise OSError((result.output or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no answer"])
    return json.loads(result.output)


def _available(status: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(sorted(int(v["version"]) for v in status.get("model_version_status") or []
                        if v.get("state") == "AVAILABLE"))


def _container_problems(client: Any, outputs: Mapping[str, Any]) -> tuple[Optional[Any], list[str]]:
    import docker.errors

    try:
        container = client.containers.get(outputs.get("container_id"))
    except docker.errors.NotFound:
        return None, ["container is gone"]
    state = container.attrs.get("State") or {}
    if not state.get("Running"):
        return container, [f"container is not running ({state.get('Status', 'unknown')}, exit code {state.get('ExitCode')})"]
    return container, []


def _image_problems(client: Any, container: Any, want: str) -> list[str]:
    import docker.errors

    configured = (container.attrs.get("Config") or {}).get("Image")
    if configured != want:
        return [f"runs image {configured}, the state says {want}"]
    try:
        digests = client.images.get(container.attrs["Image"]).attrs.get("RepoDigests") or []
    except docker.errors.ImageNotFound:
        return [f"its image {container.attrs['Image'][:19]} is no longer on the engine"]
    if want not in digests:
        return [f"runs image {container.attrs['Image'][:19]} (digests: {', '.join(digests) or 'none'}), "
                f"not {want}"]
    return []


def check_containers(client: Any, view: StateView, stack: str) -> tuple[list[Finding], int]:
    """Replicas, routers and unmanaged containers; returns the findings and how many
    containers were checked."""
    findings: list[Finding] = []
    for outputs in view.replicas:
        model = _model(outputs)
        container, problems = _container_problems(client, outputs)
        if container is not None and not problems:
            problems += _image_problems(client, container, str(outputs.get("image")))
            want = view.served.get(model or "")
            if model and want is not None:
                try:
                    have = _available(model_status(container, model, view.network))
                except (OSError, ValueError) as exc:
                    problems.append(f"model server does not answer its REST status ({exc})")
                else:
                    if have != want:
                        problems.append(f"model server reports AVAILABLE versions {list(have)}, the state serves {list(want)}")
        if problems:
            findings.append(Finding("replica", str(outputs.get("name")), tuple(problems), model))
    for kind, containers in (("router", view.routers), ("bridge", view.bridges)):
        for outputs in containers:
            _, problems = _container_problems(client, outputs)
            if problems:
                findings.append(Finding(kind, str(outputs.get("name")), tuple(problems), _model(outputs)))
    known = {o.get("container_id") for o in view.replicas + view.routers + view.bridges}
    for container in list_containers(client, [f"maas.stack={stack}"]):
        if container.id not in known:
            findings.append(Finding("container", container.name,
                                    (f"labelled maas.stack={stack} but not in the stack's state ({container.status})",),
                                    container.labels.get("maas.model")))
    return findings, len(view.replicas) + len(view.routers) + len(view.bridges)


def check_topics(admin: Any, topics: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """Each topic against the broker: existence, partitions, replication factor, declared keys."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    topics = list(topics)
    if not topics:
        return []
    metadata = admin.list_topics(timeout=10).topics
    findings = []
    for t in topics:
        name = str(t.get("name"))
        model = name.split(".")[1] if name.count(".") >= 2 else None
        live = metadata.get(name)
        if live is None or live.error is not None:
            findings.append(Finding("topic", name, ("topic is gone from the broker",), model))
            continue
        problems = []
        partitions = len(live.partitions)
        if partitions != int(t.get("partitions") or 0):
            problems.append(f"{partitions} partitions, the state says {int(t.get('partitions') or 0)}")
        rf = len(next(iter(live.partitions.values())).replicas) if live.partitions else 0
        want_rf = int(t.get("replicationFactor") or t.get("replication_factor") or 0)
        if rf != want_rf:
            problems.append(f"replication factor {rf}, the state says {want_rf}")
        declared = {str(k): str(v) for k, v in (t.get("config") or {}).items()}
        if declared:
            resource = ConfigResource(ResourceType.TOPIC, name)
            entries = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=10)
            for key, want in sorted(declared.items()):
                have = entries[key].value if key in entries else None
                if have != want:
                    problems.append(f"{key} is {have}, declared {want}")
        if problems:
            findings.append(Finding("topic", name, tuple(problems), model))
    return findings


def check_bridge_groups(admin: Any, view: StateView, stack: str) -> tuple[list[Finding], list[GroupLag]]:
    """Each model's bridge consumer group: findings when it has fewer members than the state
    has bridge containers (a bridge that runs but consumes nothing), and every group's lag."""
    containers: dict[str, int] = {}
    for model in [_model(o) for o in view.bridges] + [w.model for w in view.workloads if w.role == "bridge"]:
        if model:
            containers[model] = containers.get(model, 0) + 1
    findings, groups = [], []
    for model, count in sorted(containers.items()):
        group = bridge_lag(admin, stack, model)
        groups.append(group)
        if group.members < count:
            waiting = f"; {group.lag} requests wait" if group.lag else ""
            findings.append(Finding(
                "bridge", group.group,
                (f"consumer group has {group.members} of {count} members ({group.state}): "
                 f"a bridge container that runs but consumes nothing{waiting}",), model))
    return findings, groups
