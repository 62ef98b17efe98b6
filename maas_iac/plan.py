"""From a resolved model, its stack and the stack's connections to the components' arguments.

This is the only place that reads spec fields for the components: the merge rule between spec
and stack lives in :mod:`maas_iac.spec.stack` (applied by :mod:`maas_iac.resolve`), the
identity in :class:`~maas_iac.resolve.ResolvedModel`. Every argument object is built whole
here; the components only add the outputs of their siblings (the image's repo digest).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import pulumi

from maas_dataplane.contract import GRPC_PORT
from maas_iac.clients import Connections
from maas_iac.components import (
    BridgeArgs, EventArgs, ModelImageArgs, ModelServiceArgs, ModelTopicsArgs, ReplicaSettings, RouterArgs, TopicArgs,
)
from maas_iac.components.bridge import HOST_NETWORK, bridge_placement, loopback_broker
from maas_iac.components.k8s import ClusterTarget
from maas_iac.components.k8s.cluster import service_host
from maas_iac.errors import SpecProblem, StackConfigError
from maas_iac.kafka.access import AclRule, bridge_acl_rules, model_acl_rules
from maas_iac.kafka.guard import DeclaredTopic
from maas_iac.resolve import ResolvedModel
from maas_iac.spec import StackConfig, TopicSpec, bridge_group, topic_names
from maas_iac.spec import messages as M
from maas_iac.spec.naming import principal_user

__all__ = ["bridge_acls", "bridge_args", "declared_topics", "model_service_args", "topic_args"]


def topic_args(name: str, t: TopicSpec) -> TopicArgs:
    """One declared topic: its settings and the config keys compared with the broker."""
    return TopicArgs(name=name, partitions=t.partitions, replication_factor=t.replication_factor,
                     config={str(k): str(v) for k, v in t.kafka_config().items()})


def declared_topics(model: ResolvedModel, stack: StackConfig) -> list[DeclaredTopic]:
    """The model's topics as the guard rails compare them with the live ones."""
    names = topic_names(stack.stack, model.name)
    topics = model.spec.topics
    declared = [(names.requests, topics.requests), (names.predictions, topics.predictions)]
    if model.spec.bridge.enabled:
        declared.append((names.errors, topics.errors))
    return [DeclaredTopic(name=name, partitions=t.partitions, replication_factor=t.replication_factor,
                          owner=f"model {model.name}", allow_destructive=topics.allow_destructive_changes)
            for name, t in declared]


def bridge_acls(model: ResolvedModel, stack: StackConfig) -> list[AclRule]:
    """The ACLs of the bridge's own principal (``topics.access.bridge``), while the bridge runs."""
    spec = model.spec
    principal = spec.topics.access.bridge
    if principal is None or not spec.bridge.enabled:
        return []
    names = topic_names(stack.stack, spec.name)
    return bridge_acl_rules(principal, requests=names.requests, predictions=names.predictions, errors=names.errors,
                            group=bridge_group(stack.stack, spec.name))


def _bridge_login(model: ResolvedModel, stack: StackConfig, connections: Connections,
                  credentials: Mapping[str, pulumi.Resource]) -> tuple[Optional[str], Optional[pulumi.Input[str]],
                                                                       Optional[pulumi.Resource]]:
    """``(username, password, credential)`` the bridge logs in with: the stack's own user, or the
    spec's bridge principal with its ``kafkaUsers`` password (a Pulumi secret) and the SCRAM
    credential resource its containers wait for."""
    kafka = connections.kafka
    if kafka.security_protocol == "PLAINTEXT":
        # No SASL handshake on PLAINTEXT: every connection is User:ANONYMOUS, so there is no login
        # to give the bridge and no password the stack has to hold for its principal. The
        # principal still gets its ACLs (bridge_acls): one spec plans the same ACL resources on
        # every stack, the local stack's preview shows what a SASL_SSL stack will grant, and on a
        # broker with SASL listeners too (the local one) they govern that user's logins there.
        return None, None, None
    principal = model.spec.topics.access.bridge
    if principal is None:
        return kafka.sasl_username, kafka.to_props().get("sasl_password"), None
    user = principal_user(principal)
    secret = stack.kafka_users.get(user)
    if secret is None:  # the spec checks refuse this before anything is declared
        raise StackConfigError([SpecProblem(
            str(model.spec.source_file) if model.spec.source_file else None, None, None, "$.topics.access.bridge",
            M.BRIDGE_PRINCIPAL_NOT_A_STACK_USER.format(
                principal=principal, stack=stack.stack,
                where=str(stack.source_file) if stack.source_file else f"the config of stack {stack.stack!r}"),
            M.BRIDGE_PRINCIPAL_NOT_A_STACK_USER_FIX.format(stack=stack.stack, user=user))])
    return user, pulumi.Output.secret(secret.reveal()), credentials.get(user)


def bridge_args(model: ResolvedModel, stack: StackConfig, connections: Connections,
                network: pulumi.Input[str], labels: dict[str, str],
                credentials: Optional[Mapping[str, pulumi.Resource]] = None) -> Optional[BridgeArgs]:
    """The model's Kafka inference bridge on ``stack``, or None when its spec runs none.

    It runs the serving base image pinned by digest (the data plane's bridge, not the model),
    so a model change only changes what it stamps on its answers. ``credentials`` are the
    stack's SCRAM credential resources by user name."""
    spec = model.spec
    if not spec.bridge.enabled:
        return None
    names = topic_names(stack.stack, spec.name)
    kafka = connections.kafka
    if stack.kubernetes is None:
        router = f"{stack.stack}-{spec.name}-router"
        placed_on, target = bridge_placement(kafka.bootstrap, network, router, stack.bind_address,
                                             spec.serving.ports.grpc)
    else:
        # the router's Service by its cluster DNS name; the pod network unless the broker
        # advertises a loopback address (then the host's, as on Docker)
        placed_on = HOST_NETWORK if loopback_broker(kafka.bootstrap) else "pod"
        target = f"{service_host(spec.name, stack.kubernetes.namespace)}:{GRPC_PORT}"
    secured = kafka.security_protocol != "PLAINTEXT"
    ca_pem = Path(os.path.expanduser(kafka.ca_location)).read_text() if secured and kafka.ca_location else None
    username, password, credential = _bridge_login(model, stack, connections, credentials or {})
    return BridgeArgs(
        stack=stack.stack, model_name=spec.name, image=model.base_image, consumers=spec.bridge.consumers,
        network=placed_on, grpc_target=target, bootstrap_servers=kafka.bootstrap,
        requests_topic=names.requests, predictions_topic=names.predictions, errors_topic=names.errors,
        labels={k: v for k, v in labels.items() if k != "maas.digest"}, name_prefix=f"{stack.stack}-{spec.name}-bridge",
        git_sha=model.git_sha, digest=model.digest, max_batch_size=spec.bridge.max_batch_size,
        linger_ms=spec.bridge.linger_ms, security_protocol=kafka.security_protocol,
        sasl_mechanism=kafka.sasl_mechanism if secured else None, sasl_username=username, sasl_password=password,
        credential=credential, ca_pem=ca_pem, docker=connections.docker.to_props())


def model_service_args(model: ResolvedModel, stack: StackConfig, connections: Connections,
                       network: pulumi.Input[str], events_topic: pulumi.Input[str],
                       kafka: Optional[pulumi.ProviderResource] = None,
                       live_topics: frozenset[str] = frozenset(),
                       credentials: Optional[Mapping[str, pulumi.Resource]] = None,
                       cluster: Optional[ClusterTarget] = None) -> ModelServiceArgs:
    """Arguments of the ModelService for ``model`` on ``stack``; ``kafka`` is the stack's
    pulumi-kafka provider, ``live_topics`` the declared topics the broker already has,
    ``credentials`` the stack's SCRAM credential resources by user name, ``cluster`` the
    stack's Kubernetes cluster when its engine is kubernetes."""
    spec = model.spec
    s = spec.serving
    labels = {
        "maas.stack": stack.stack,
        "maas.model": spec.name,
        "maas.digest": model.digest,
        **{f"maas.label.{k}": str(v) for k, v in spec.metadata.labels.items()},
    }
    alias = f"{spec.name}-replicas"
    docker = connections.docker.to_props()
    kafka_props = connections.kafka.to_props()
    names = topic_names(stack.stack, spec.name)
    memory_mb = s.resources.memory_bytes // (1024 * 1024) if s.resources.memory_bytes else None
    return ModelServiceArgs(
        image=ModelImageArgs(context=str(model.context or ""), registry=stack.registry, repository=model.repository,
                             tag=model.tag, labels=model.labels, docker=docker,
                             pinned_digest=model.pinned.promotion.image if model.pinned else None,
                             promoted_from=model.pinned.promotion.from_stack if model.pinned else None),
        replicas=ReplicaSettings(
            model_name=spec.name, replicas=s.replicas, network=network, alias=alias,
            server_args=model.server_args + [f"--drain_seconds={s.drain_seconds}"],
            labels={**labels, "maas.role": "replica"}, name_prefix=f"{stack.stack}-{spec.name}", env=dict(s.env),
            cpus=s.resources.cpus, memory_mb=memory_mb,
            health_interval_s=s.health.interval_seconds, health_timeout_s=s.health.timeout_seconds,
            health_retries=s.health.retries, health_start_period_s=s.health.start_period_seconds,
            drain_seconds=s.drain_seconds, healthy_timeout_s=spec.rollout.health_timeout_seconds, docker=docker),
        router=RouterArgs(
            model_name=spec.name, image=stack.router_image, network=network, replica_alias=alias,
            replicas=s.replicas, bind_address=stack.bind_address, rest_port=s.ports.rest, grpc_port=s.ports.grpc,
            # No digest on the router: labels are part of a container's identity, and the router
            # (fixed name and ports, so delete-before-replace) must outlive every rollout.
            labels={**{k: v for k, v in labels.items() if k != "maas.digest"}, "maas.role": "router"},
            name=f"{stack.stack}-{spec.name}-router", docker=docker),
        topics=ModelTopicsArgs(
            requests=topic_args(names.requests, spec.topics.requests),
            predictions=topic_args(names.predictions, spec.topics.predictions),
            errors=topic_args(names.errors, spec.topics.errors) if spec.bridge.enabled else None,
            provider=kafka, allow_destructive=spec.topics.allow_destructive_changes,
            protect=stack.protect, adopt=live_topics,
            acls=tuple(model_acl_rules(names.requests, names.predictions, f"{stack.stack}.{spec.name}.",
                                       produce_requests=spec.topics.access.produce_requests,
                                       read_predictions=spec.topics.access.read_predictions,
                                       bridge_group=bridge_group(stack.stack, spec.name) if spec.bridge.enabled else None,
                                       bridge_principal=spec.topics.access.bridge)),
            bridge_acls=tuple(bridge_acls(model, stack))),
        event=EventArgs(bootstrap_servers=connections.kafka.bootstrap, topic=events_topic, stack=stack.stack,
                        git_sha=model.git_sha, repository=spec.source.repository, digest=model.digest,
                        versions=list(model.served), kafka=kafka_props),
        bridge=bridge_args(model, stack, connections, network, labels, credentials),
        cluster=cluster,
    )
