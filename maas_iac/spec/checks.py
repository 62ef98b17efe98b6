"""Checks the schema cannot express: within one spec, and across all specs and stacks.

Every check returns problems located in the file that has to change; a conflict between two
files is reported on the later one (in file order) and names the earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maas_iac.errors import SpecProblem
from maas_iac.source.urls import source_allowed
from maas_iac.spec import messages as M
from maas_iac.spec.model import ModelServiceSpec, SpecificVersions
from maas_iac.spec.jsonpath import render_path
from maas_iac.spec.naming import events_topic, principal_user, topic_collision_key, topic_name_problem
from maas_iac.spec.reader import DocPath, Document
from maas_iac.spec.schema import did_you_mean
from maas_iac.spec.stack import StackConfig

__all__ = [
    "DEFAULT_CHECK_STACK",
    "RESERVED_ENV",
    "LoadedSpec",
    "LoadedStack",
    "cross_spec_problems",
    "spec_problems",
]

RESERVED_ENV = ("MODEL_NAME", "MODEL_BASE_PATH")
"""Environment variables maas-iac sets on every replica."""
DEFAULT_CHECK_STACK = "local"
"""Stack name topic names are checked with when no stack config is part of the check."""
_SHADOWED_CONFIG = {"retention.ms": "retentionMs", "cleanup.policy": "cleanupPolicy"}


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A spec together with the document it came from (for positions)."""

    doc: Document
    spec: ModelServiceSpec


@dataclass(frozen=True, slots=True)
class LoadedStack:
    """A stack config together with its document, when it came from a file."""

    doc: Document | None
    config: StackConfig


def _where(doc: Document, path: DocPath) -> str:
    pos = doc.position(path)
    return f"{doc.file}:{pos[0]}:{pos[1]}" if pos else doc.file


def spec_problems(item: LoadedSpec) -> list[SpecProblem]:
    """Rules within one spec: distinct ports, labels on served versions, reserved variables,
    topic config that repeats a typed field, no more bridge consumers than request partitions."""
    doc, spec = item.doc, item.spec
    problems: list[SpecProblem] = []
    ports = spec.serving.ports
    if ports.rest == ports.grpc:
        problems.append(
            doc.problem(("serving", "ports", "grpc"), M.PORTS_EQUAL.format(port=ports.grpc), M.PORTS_EQUAL_FIX)
        )
    versions = spec.source.versions
    if isinstance(versions, SpecificVersions):
        served = sorted(versions.versions)
        for label, version in spec.source.labels.items():
            if version not in served:
                problems.append(
                    doc.problem(
                        ("source", "labels", label),
                        M.LABEL_VERSION_NOT_SERVED.format(label=label, version=version),
                        M.LABEL_VERSION_NOT_SERVED_FIX.format(version=version, served=served),
                    )
                )
    for name in spec.serving.env:
        if name in RESERVED_ENV:
            problems.append(
                doc.problem(
                    ("serving", "env", name),
                    M.ENV_RESERVED.format(name=name),
                    M.ENV_RESERVED_FIX.format(name=name),
                    prefer_key=True,
                )
            )
    bridge, partitions = spec.bridge, spec.topics.requests.partitions
    if bridge.enabled and bridge.consumers > partitions:
        problems.append(
            doc.problem(
                ("bridge", "consumers"),
                M.BRIDGE_CONSUMERS_EXCEED_PARTITIONS.format(consumers=bridge.consumers, partitions=partitions),
                M.BRIDGE_CONSUMERS_EXCEED_PARTITIONS_FIX.format(consumers=bridge.consumers, partitions=partitions),
            )
        )
    for topic in ("requests", "predictions", "errors"):
        config = getattr(spec.topics, topic).config
        for key, field_name in _SHADOWED_CONFIG.items():
            if key in config:
                problems.append(
                    doc.problem(
                        ("topics", topic, "config", key),
                        M.TOPIC_CONFIG_SHADOWS.format(key=key, field=field_name),
                        M.TOPIC_CONFIG_SHADOWS_FIX.format(key=key, field=field_name),
                        prefer_key=True,
                    )
                )
    return problems


def cross_spec_problems(
    specs: Sequence[LoadedSpec], stacks: Sequence[LoadedStack] = ()
) -> list[SpecProblem]:
    """Rules across files: unique names, unique host ports, legal and distinct topic names
    (for every stack given, else for :data:`DEFAULT_CHECK_STACK`), ports within range after
    each stack's offset, replica overrides that name a known model, repositories each stack's
    ``maas:allowedSources`` admits, bridge principals a SASL stack holds the password of."""
    problems: list[SpecProblem] = []

    names: dict[str, LoadedSpec] = {}
    for item in specs:
        first = names.setdefault(item.spec.name, item)
        if first is not item:
            problems.append(
                item.doc.problem(
                    ("metadata", "name"),
                    M.DUPLICATE_NAME.format(name=item.spec.name, where=_where(first.doc, ("metadata", "name"))),
                    M.DUPLICATE_NAME_FIX,
                )
            )

    owners: dict[int, tuple[LoadedSpec, str]] = {}
    for item in specs:
        for kind in ("rest", "grpc"):
            port = getattr(item.spec.serving.ports, kind)
            path: DocPath = ("serving", "ports", kind)
            owner = owners.get(port)
            if owner is None:
                owners[port] = (item, kind)
            elif owner[0] is not item:
                other, other_kind = owner
                problems.append(
                    item.doc.problem(
                        path,
                        M.PORT_TAKEN.format(
                            port=port,
                            owner=f"{other.spec.name} ({other_kind})",
                            where=_where(other.doc, ("serving", "ports", other_kind)),
                        ),
                        M.PORT_TAKEN_FIX,
                    )
                )

    # a duplicate name is one mistake, already reported: its topics are not checked again
    problems += _topic_problems([item for item in specs if names[item.spec.name] is item], stacks)

    for loaded in stacks:
        config = loaded.config
        problems += _source_problems(specs, loaded)
        problems += _bridge_principal_problems(specs, loaded)
        if config.port_offset:
            for item in specs:
                for kind in ("rest", "grpc"):
                    port = getattr(item.spec.serving.ports, kind)
                    if port + config.port_offset > 65535:
                        problems.append(
                            item.doc.problem(
                                ("serving", "ports", kind),
                                M.PORT_OUT_OF_RANGE.format(port=port, offset=config.port_offset, stack=config.stack),
                                M.PORT_OUT_OF_RANGE_FIX,
                            )
                        )
        if specs and loaded.doc is not None:
            known = [item.spec.name for item in specs]
            for model in config.replicas:
                if model not in names:
                    suggestion = did_you_mean(model, known)
                    problems.append(
                        SpecProblem(
                            loaded.doc.file,
                            *(loaded.doc.position(("config", "maas:replicas", model), prefer_key=True) or (None, None)),
                            render_path(("config", "maas:replicas", model)),
                            M.STACK_UNKNOWN_MODEL.format(name=model),
                            M.DID_YOU_MEAN.format(suggestion=suggestion) if suggestion else M.STACK_UNKNOWN_MODEL_FIX_NONE,
                        )
                    )
    return problems


def _stack_where(loaded: LoadedStack) -> str:
    """The stack's file as the user named it, or what else its config came from."""
    config = loaded.config
    return (loaded.doc.file if loaded.doc is not None else None) or (
        str(config.source_file) if config.source_file else f"the config of stack {config.stack!r}")


def _source_problems(specs: Sequence[LoadedSpec], loaded: LoadedStack) -> list[SpecProblem]:
    """Every spec's repository against the stack's ``maas:allowedSources``."""
    config = loaded.config
    where = _stack_where(loaded)
    allowed = ", ".join(config.allowed_sources) or "none"
    return [
        item.doc.problem(
            ("source", "repository"),
            M.SOURCE_NOT_ALLOWED.format(stack=config.stack, allowed=allowed),
            M.SOURCE_NOT_ALLOWED_FIX.format(where=where),
        )
        for item in specs
        if not source_allowed(item.spec.source.repository, config.allowed_sources)
    ]


def _bridge_principal_problems(specs: Sequence[LoadedSpec], loaded: LoadedStack) -> list[SpecProblem]:
    """On a stack whose Kafka uses SASL, a running bridge's own principal (``topics.access.bridge``)
    must be one of the stack's ``maas:kafkaUsers``: its password is the bridge's login. A
    PLAINTEXT stack has no logins; there the principal only gets its ACLs."""
    config = loaded.config
    if config.kafka.security_protocol == "PLAINTEXT":
        return []
    problems = []
    for item in specs:
        principal = item.spec.topics.access.bridge
        if principal is None or not item.spec.bridge.enabled:
            continue
        user = principal_user(principal)
        if user not in config.kafka_users:
            problems.append(item.doc.problem(
                ("topics", "access", "bridge"),
                M.BRIDGE_PRINCIPAL_NOT_A_STACK_USER.format(principal=principal, stack=config.stack,
                                                           where=_stack_where(loaded)),
                M.BRIDGE_PRINCIPAL_NOT_A_STACK_USER_FIX.format(stack=config.stack, user=user)))
    return problems


def _topic_problems(specs: Sequence[LoadedSpec], stacks: Sequence[LoadedStack]) -> list[SpecProblem]:
    """Legal, distinct topic names over every stack given (stacks may share a cluster, so
    ``a_b.m.requests`` on stack ``a_b`` collides with ``a.b.m.requests`` on stack ``a.b``)."""
    problems: list[SpecProblem] = []
    loaded_stacks: list[LoadedStack | None] = list(stacks) or [None]
    seen: dict[str, str] = {}
    for loaded in loaded_stacks:
        stack = loaded.config.stack if loaded else DEFAULT_CHECK_STACK
        if stack in {s.config.stack for s in stacks if s is not loaded}:
            continue  # the same stack twice is reported elsewhere, if at all
        owned: list[tuple[str, Document | None, DocPath]] = [(events_topic(stack), loaded.doc if loaded else None, ())]
        owned += [(t, item.doc, ("metadata", "name")) for item in specs for t in item.spec.topic_names(stack)]
        for topic, doc, path in owned:
            reason = topic_name_problem(topic)
            key = topic_collision_key(topic)
            if reason:
                message = M.TOPIC_NAME_ILLEGAL.format(topic=topic, reason=reason)
                fix = M.TOPIC_NAME_ILLEGAL_FIX
            elif key in seen:
                message = M.TOPIC_NAME_COLLISION.format(topic=topic, other=seen[key])
                fix = M.TOPIC_NAME_COLLISION_FIX
            else:
                seen[key] = topic
                continue
            if doc is not None:
                problems.append(doc.problem(path, message, fix))
            else:
                problems.append(SpecProblem(None, None, None, "$", message, fix))
            if not path:
                break  # the stack name itself collides: one problem, not one per model
    return problems
