"""From resource steps to what a reviewer asks about each model: :class:`PreviewReport`.

Every step is attributed to the ``maas:index:ModelService`` it sits under (through the
parent URNs) and given a role (image, replica, router, bridge, topic, event) by its type and
its parent's type. A model's Git SHA, digest and served versions come from its
``ModelVersionEvent`` inputs (the image's OCI labels when that is missing); whether the new
image is a registry cache hit, how many bytes its new layers hold and how far behind its
bridge's consumer group is come from :class:`Lookups`, injected so that the reporters stay pure.

Change classes, most severe first:

``destructive``
    data or service is lost: a topic is deleted or recreated, the model leaves the stack, or
    something serving traffic is deleted before its replacement exists (the router, which
    owns fixed host ports, is replaced delete-before-create).
``rolling``
    replicas are replaced create-before-delete: new ones become healthy first (on Kubernetes:
    the replicas' Deployment rolls a new pod template, maxUnavailable 0).
``new``
    the model joins the stack.
``in place``
    everything else: updates, added replicas, topic config, the deployment event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from pulumi.runtime.rpc import UNKNOWN

from maas_iac import type_tokens as tokens
from maas_iac.clients.kafka import GroupLag
from maas_iac.report.steps import ResourceStep

__all__ = [
    "BridgeChange", "CLASSES", "ImageChange", "Lookups", "ModelChange", "OtherChanges", "PreviewReport", "ResourceChange",
    "TopicChange", "build_report",
]

CLASSES = ("destructive", "rolling", "new", "in place")
"""Change classes, most severe first (the order models are listed in)."""

_ROLE_BY_PARENT = {tokens.SERVING_REPLICAS: "replica", tokens.ROUTER: "router",
                   tokens.MODEL_TOPICS: "topic", tokens.MODEL_IMAGE: "image", tokens.BRIDGE: "bridge"}
_ROLE_BY_TYPE = {tokens.REGISTRY_IMAGE: "image", tokens.TOPIC: "topic", tokens.MODEL_VERSION_EVENT: "event",
                 tokens.KAFKA_ACL: "acl", tokens.LEGACY_TOPIC: "retired topic"}
@dataclass(frozen=True)
class Lookups:
    """Facts a preview's events do not hold, each ``None`` when it cannot be told."""

    commit_subject: Callable[[str, str], Optional[str]] = lambda repository, sha: None
    """``(repository, sha)`` → the commit's subject line."""
    image_cached: Callable[[str, str, str], Optional[bool]] = lambda registry, repository, tag: None
    """``(registry, repository, tag)`` → whether the registry already has that tag."""
    layer_bytes: Callable[[str], Optional[int]] = lambda context: None
    """Build-context directory → bytes of the files the model's own layers copy."""
    bridge_group: Callable[[str, str], Optional[GroupLag]] = lambda stack, model: None
    """``(stack, model)`` → the model's bridge consumer group on the broker, with its lag."""


@dataclass(frozen=True)
class ResourceChange:
    """One changed resource of a model."""

    role: str
    """``image``, ``replica``, ``router``, ``topic``, ``event`` or ``other``."""
    name: str
    """The Pulumi resource name (e.g. ``half-plus-two-replicas-0``)."""
    op: str
    keys: tuple[str, ...] = ()
    delete_first: bool = False
    live_name: Optional[str] = None
    """The Docker container, Kubernetes object or Kafka topic name, where known."""
    rolls: bool = False
    """A Kubernetes Deployment whose update rolls new pods (its pod template changes)."""


@dataclass(frozen=True)
class ImageChange:
    """The model image: unchanged, a registry cache hit, or a rebuild and push."""

    old_tag: Optional[str]
    new_tag: Optional[str]
    action: str
    """``unchanged``, ``cache hit``, ``rebuild``, ``promoted`` (pinned by ``maas promote``: never
    built) or ``unknown`` (the registry could not be asked)."""
    bytes_to_push: Optional[int] = None
    """Bytes of the model's new layers (served files and serving config); 0 on a cache hit."""
    promoted_from: Optional[str] = None
    """The stack a pinned image was promoted from."""
    promoted_image: Optional[str] = None
    """The pinned image's manifest digest, ``sha256:…``."""


@dataclass(frozen=True)
class BridgeChange:
    """The model's Kafka bridge: its containers and, live, its consumer group."""

    old_consumers: int
    new_consumers: int
    created: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    group: Optional[str] = None
    """The consumer group's name; None when the broker could not be asked."""
    members: Optional[int] = None
    state: Optional[str] = None
    lag: Optional[int] = None
    """Requests not yet answered: the group's committed offsets behind the requests topic's end."""


@dataclass(frozen=True)
class TopicChange:
    """A Kafka topic of the model that changes."""

    name: str
    op: str
    keys: tuple[str, ...]
    old_partitions: Optional[int] = None
    new_partitions: Optional[int] = None
    config: Mapping[str, tuple[Optional[str], Optional[str]]] = field(default_factory=dict)
    """Declared config keys that change: key → (old, new)."""

    @property
    def destructive(self) -> bool:
        return self.op in ("replace", "delete")


@dataclass(frozen=True)
class ModelChange:
    """Everything a preview changes for one model."""

    model: str
    change_class: Optional[str]
    """One of :data:`CLASSES`, ``None`` when nothing changes."""
    reasons: tuple[str, ...] = ()
    """Why the class is ``destructive`` (or ``rolling``), one short sentence each."""
    notes: tuple[str, ...] = ()
    """Less severe things worth knowing (a destructive change that also rolls replicas)."""
    repository: Optional[str] = None
    old_sha: Optional[str] = None
    new_sha: Optional[str] = None
    old_subject: Optional[str] = None
    new_subject: Optional[str] = None
    old_digest: Optional[str] = None
    new_digest: Optional[str] = None
    old_versions: tuple[int, ...] = ()
    new_versions: tuple[int, ...] = ()
    old_replicas: Optional[int] = None
    new_replicas: Optional[int] = None
    image: Optional[ImageChange] = None
    replicas_created: tuple[str, ...] = ()
    replicas_replaced: tuple[str, ...] = ()
    replicas_deleted: tuple[str, ...] = ()
    replicas_updated: tuple[str, ...] = ()
    router: Optional[ResourceChange] = None
    bridge: Optional[BridgeChange] = None
    """None when the model has no bridge before or after."""
    topics: tuple[TopicChange, ...] = ()
    resources: tuple[ResourceChange, ...] = ()
    """Every changed resource of the model, in the engine's order."""

    @property
    def changed(self) -> bool:
        return self.change_class is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["topics"] = [{**asdict(t), "destructive": t.destructive} for t in self.topics]
        return _camel(data)


@dataclass(frozen=True)
class OtherChanges:
    """Resources outside any model (stack network, events topic, providers), in one line."""

    counts: Mapping[str, int] = field(default_factory=dict)
    """Operation → number of resources (``same`` included)."""
    changed: tuple[ResourceChange, ...] = ()


@dataclass(frozen=True)
class PreviewReport:
    """A preview, per model: the plain data every reporter renders."""

    stack: str
    models: tuple[ModelChange, ...]
    """Changed models first, most severe class first, then unchanged ones; by name within."""
    other: OtherChanges

    @property
    def changed_models(self) -> tuple[ModelChange, ...]:
        return tuple(m for m in self.models if m.changed)

    @property
    def has_changes(self) -> bool:
        return bool(self.changed_models or self.other.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "changes": self.has_changes,
            "summary": {
                "models": len(self.models),
                "changed": len(self.changed_models),
                "byClass": {c: sum(1 for m in self.models if m.change_class == c) for c in CLASSES},
            },
            "models": [m.to_dict() for m in self.changed_models],
            "unchangedModels": [m.model for m in self.models if not m.changed],
            "other": {"counts": dict(self.other.counts), "changed": [_camel(asdict(r)) for r in self.other.changed]},
        }


def _camel(value: Any) -> Any:
    """snake_case keys to camelCase, lists for tuples (the JSON reporters' shape)."""
    if isinstance(value, Mapping):
        return {_camel_key(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    if "_" not in key or key.startswith("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _known(value: Any) -> Any:
    # The engine's stand-in for an input not known before the update.
    return None if value == UNKNOWN else value


def _int(value: Any) -> Optional[int]:
    value = _known(value)
    return int(value) if isinstance(value, (int, float)) else None


def _model_of(step: ResourceStep, steps: Mapping[str, ResourceStep]) -> Optional[str]:
    urn, seen = step.urn, set()
    while urn and urn not in seen:
        seen.add(urn)
        current = steps.get(urn)
        if current is None:
            return None
        if current.type == tokens.MODEL_SERVICE:
            return current.name
        urn = current.parent
    return None


def _role(step: ResourceStep, steps: Mapping[str, ResourceStep]) -> str:
    parent = steps.get(step.parent)
    if step.type in (tokens.CONTAINER, tokens.K8S_DEPLOYMENT) and parent is not None:
        return _ROLE_BY_PARENT.get(parent.type, "other")
    if step.type.startswith(tokens.K8S_PREFIX):
        return "kubernetes"  # the Services, budget and secrets beside the Deployments
    return _ROLE_BY_TYPE.get(step.type, "other")


def _live_name(step: ResourceStep) -> Optional[str]:
    """The container's, Kubernetes object's or topic's own name; a name the preview generated
    (``auto_name``) is not the one ``up`` will pick, so it is not reported."""
    if step.type.startswith(tokens.K8S_PREFIX):
        meta = step.old_inputs.get("metadata") or _known(step.new_inputs.get("metadata")) or {}
        name = _known(meta.get("name")) if isinstance(meta, Mapping) else None
        return str(name) if name else None
    name = step.old_outputs.get("name") or step.old_inputs.get("name")
    if not name and not step.new_inputs.get("auto_name"):
        name = _known(step.new_inputs.get("name"))
    return str(name) if name else None


def _rolls_pods(step: ResourceStep) -> bool:
    """Whether a Deployment's update changes its pod template (a rollout), not only its scale."""
    def template(inputs: Mapping[str, Any]) -> Any:
        spec = inputs.get("spec")
        return spec.get("template") if isinstance(spec, Mapping) else spec
    return step.type == tokens.K8S_DEPLOYMENT and template(step.old_inputs) != template(step.new_inputs)


def build_report(stack: str, steps: Iterable[ResourceStep], lookups: Lookups = Lookups()) -> PreviewReport:
    """Group ``steps`` by model and classify each model's change."""
    steps = list(steps)
    by_urn = {s.urn: s for s in steps}
    per_model: dict[str, list[ResourceStep]] = {}
    services: dict[str, ResourceStep] = {}
    other: list[ResourceStep] = []
    for step in steps:
        model = _model_of(step, by_urn)
        if model is None:
            # The sweeper updates whenever the stack's containers change: bookkeeping, not news.
            if not step.type.startswith(("pulumi:pulumi:Stack", "pulumi:providers:", tokens.CONTAINER_SWEEPER)):
                other.append(step)
            continue
        if step.type == tokens.MODEL_SERVICE:
            services[model] = step
        elif not step.type.startswith("maas:"):
            per_model.setdefault(model, []).append(step)
    models = [_model_change(stack, name, services.get(name), per_model.get(name, []), by_urn, lookups)
              for name in sorted(set(services) | set(per_model))]
    rank = {c: i for i, c in enumerate(CLASSES)}
    models.sort(key=lambda m: (rank.get(m.change_class, len(CLASSES)) if m.change_class else len(CLASSES) + 1,
                               m.model))
    counts: dict[str, int] = {}
    for step in other:
        counts[step.op] = counts.get(step.op, 0) + 1
    changed_other = tuple(ResourceChange("other", s.name, s.op, s.keys, s.delete_first) for s in other if s.changed)
    return PreviewReport(stack=stack, models=tuple(models), other=OtherChanges(counts, changed_other))


def _model_change(stack: str, name: str, service: Optional[ResourceStep], steps: list[ResourceStep],
                  by_urn: Mapping[str, ResourceStep], lookups: Lookups) -> ModelChange:
    changes = [ResourceChange(_role(s, by_urn), s.name, s.op, s.keys, s.delete_first, _live_name(s),
                              rolls=_rolls_pods(s) if s.op == "update" else False)
               for s in steps if s.changed]
    event = next((s for s in steps if _role(s, by_urn) == "event"), None)
    image_step = next((s for s in steps if _role(s, by_urn) == "image"), None)
    ident = _identity(event, image_step)
    if not changes and (service is None or not service.changed):
        return ModelChange(model=name, change_class=None, **ident)

    def named(role: str, op: str) -> tuple[str, ...]:
        return _named(changes, role, op)

    router = next((c for c in changes if c.role == "router"), None)
    topics = tuple(_topic_change(s) for s in steps if s.changed and _role(s, by_urn) == "topic")
    change_class, reasons, notes = _classify(service, changes, topics)
    if ident["repository"]:
        for side in ("old", "new"):
            sha = ident[f"{side}_sha"]
            if sha and (side == "new" or sha != ident["new_sha"]):
                ident[f"{side}_subject"] = lookups.commit_subject(ident["repository"], sha)
        if ident["old_sha"] == ident["new_sha"]:
            ident["old_subject"] = ident["new_subject"]
    return ModelChange(
        model=name, change_class=change_class, reasons=tuple(reasons), notes=tuple(notes), **ident,
        image=_image_change(image_step, lookups),
        replicas_created=named("replica", "create"), replicas_replaced=named("replica", "replace"),
        replicas_deleted=named("replica", "delete"), replicas_updated=named("replica", "update"),
        router=router, bridge=_bridge_change(stack, name, steps, by_urn, changes, lookups), topics=topics,
        resources=tuple(changes))


def _named(changes: list[ResourceChange], role: str, op: str) -> tuple[str, ...]:
    """The live (else Pulumi) names of the ``role`` resources the preview would ``op``."""
    return tuple(c.live_name or c.name for c in changes if c.role == role and c.op == op)


def _bridge_change(stack: str, model: str, steps: list[ResourceStep], by_urn: Mapping[str, ResourceStep],
                   changes: list[ResourceChange], lookups: Lookups) -> Optional[BridgeChange]:
    ops = [s.op for s in steps if _role(s, by_urn) == "bridge"]
    if not ops:
        return None

    def named(op: str) -> tuple[str, ...]:
        return _named(changes, "bridge", op)

    new = sum(1 for op in ops if op != "delete")
    change = BridgeChange(old_consumers=sum(1 for op in ops if op != "create"), new_consumers=new,
                          created=named("create"), replaced=named("replace"), deleted=named("delete"),
                          updated=named("update"))
    live = lookups.bridge_group(stack, model)
    if live is None:
        return change
    return replace(change, group=live.group, members=live.members, state=live.state, lag=live.lag)


def _identity(event: Optional[ResourceStep], image: Optional[ResourceStep]) -> dict[str, Any]:
    def pick(step: Optional[ResourceStep], side: str, key: str, label: Optional[str] = None) -> Any:
        if step is None:
            return None
        inputs = step.old_inputs if side == "old" else step.new_inputs
        if label:
            return _known((inputs.get("labels") or {}).get(label))
        return _known(inputs.get(key))

    ident: dict[str, Any] = {}
    for side in ("old", "new"):
        ident[f"{side}_sha"] = pick(event, side, "git_sha") or pick(image, side, "", "org.opencontainers.image.revision")
        ident[f"{side}_digest"] = pick(event, side, "digest") or pick(image, side, "", "io.maas-iac.model-digest")
        versions = pick(event, side, "versions")
        ident[f"{side}_versions"] = tuple(int(v) for v in versions) if isinstance(versions, list) else ()
        ident[f"{side}_replicas"] = _int(pick(event, side, "replicas"))
    ident["repository"] = (pick(event, "new", "repository") or pick(event, "old", "repository")
                           or pick(image, "new", "", "org.opencontainers.image.source"))
    return ident


def _image_change(step: Optional[ResourceStep], lookups: Lookups) -> Optional[ImageChange]:
    if step is None:
        return None
    old_tag, new_tag = _known(step.old_inputs.get("tag")), _known(step.new_inputs.get("tag"))
    new = step.new_inputs
    pin = {"promoted_from": _known(new.get("promoted_from")), "promoted_image": _known(new.get("pinned_digest"))}
    pin = pin if step.op != "delete" and pin["promoted_image"] else {}
    if step.op in ("same", "delete") or not new_tag:
        return ImageChange(old_tag, new_tag if step.op != "delete" else None, "unchanged", **pin)
    if pin:
        return ImageChange(old_tag, new_tag, "promoted", 0, **pin)
    cached = lookups.image_cached(str(new.get("registry")), str(new.get("repository")), str(new_tag))
    if cached:
        return ImageChange(old_tag, new_tag, "cache hit", 0)
    size = lookups.layer_bytes(str(new.get("context"))) if new.get("context") else None
    return ImageChange(old_tag, new_tag, "rebuild" if cached is False else "unknown", size)


def _topic_change(step: ResourceStep) -> TopicChange:
    old, new = step.old_inputs, step.new_inputs
    old_config = {str(k): str(v) for k, v in (old.get("config") or {}).items()}
    new_config = {str(k): str(v) for k, v in (_known(new.get("config")) or {}).items()} if step.op != "delete" else {}
    config = {k: (old_config.get(k), new_config.get(k)) for k in sorted(set(old_config) | set(new_config))
              if old_config.get(k) != new_config.get(k)}
    if step.op == "create":
        config = {}
    name = _known(new.get("name")) or old.get("name") or step.name
    return TopicChange(name=str(name), op=step.op, keys=step.keys, old_partitions=_int(old.get("partitions")),
                       new_partitions=_int(new.get("partitions")), config=config)


def _classify(service: Optional[ResourceStep], changes: list[ResourceChange],
              topics: tuple[TopicChange, ...]) -> tuple[str, list[str], list[str]]:
    destructive: list[str] = []
    rolling: list[str] = []
    notes = [f"topic {t.name} is adopted as it is on the broker (import): nothing is recreated"
             for t in topics if t.op == "import"]
    if any(c.role == "retired topic" for c in changes):
        notes.append("the topics' records from the previous Kafka provider are retired; the topics stay")
    if service is not None and service.op == "delete":
        destructive.append("the model leaves the stack: its replicas, router and topics are deleted")
    elif service is not None and service.op == "create":
        return "new", [], []
    for topic in topics:
        if topic.op == "replace":
            why = ", ".join(topic.keys) or "identity"
            destructive.append(f"topic {topic.name} is deleted and recreated ({why}): its data is lost")
        elif topic.op == "delete" and not destructive:
            destructive.append(f"topic {topic.name} is deleted: its data is lost")
    for c in changes:
        if c.role == "router" and c.op == "replace" and c.delete_first:
            destructive.append(f"router {c.live_name or c.name} is replaced delete-before-create "
                               f"({', '.join(c.keys) or 'replacement'}): its ports are closed until the new one starts")
        elif c.role == "replica" and c.op == "replace":
            if c.delete_first:
                destructive.append(f"replica {c.live_name or c.name} is replaced delete-before-create")
            elif not rolling:
                rolling.append("replicas are replaced create-before-delete: new ones pass their health check first")
        elif c.role == "router" and c.op == "replace":
            rolling.append(f"router {c.live_name or c.name} is replaced create-before-delete")
        elif c.role in ("replica", "router") and c.rolls:
            rolling.append(f"Deployment {c.live_name or c.name} rolls its pods: a new pod is Ready before an old "
                           f"one stops (maxUnavailable 0)")
    if destructive:
        return "destructive", destructive, rolling + notes
    if rolling:
        return "rolling", rolling, notes
    return "in place", [], notes
