"""From a checked spec, its stack and its resolved identity to the components' arguments.

This is the only place that reads spec fields for the components: the merge rule between spec
and stack lives in :mod:`maas_iac.spec.stack`, the identity in :mod:`maas_iac.resolve`.
"""

from __future__ import annotations

from typing import Callable

import pulumi

from maas_iac.artifacts.context import Batching
from maas_iac.components import (
    EventArgs, ModelImageArgs, ModelServiceArgs, ModelTopicsArgs, RouterArgs, ServingReplicasArgs, TopicArgs,
)
from maas_iac.resolve import ResolvedModel, Resolver
from maas_iac.spec import ModelServiceSpec, StackConfig, TopicSpec, apply_stack_config, topic_names

__all__ = ["batching_of", "model_service_args", "resolve_spec"]


def batching_of(spec: ModelServiceSpec) -> Batching | None:
    """The spec's batching parameters, or None when batching is off."""
    b = spec.serving.batching
    if not b.enabled:
        return None
    return Batching(max_batch_size=b.max_batch_size, batch_timeout_micros=b.batch_timeout_micros,
                    num_batch_threads=b.num_batch_threads, max_enqueued_batches=b.max_enqueued_batches)


def resolve_spec(resolver: Resolver, spec: ModelServiceSpec, stack: StackConfig,
                 pin: Callable[[str], str] = lambda ref: ref) -> ResolvedModel:
    """Pin ``spec`` 's model on ``stack`` (Git SHA, served versions, digest, tag).

    ``pin`` turns the base image reference into the one the recipe uses (the program pins it
    to its registry digest, so a new base image means a new model tag).
    """
    src = spec.source
    policy = src.versions
    return resolver.resolve(
        name=spec.name, repository=src.repository, ref=src.ref, path=src.path, policy=policy.policy,
        count=getattr(policy, "count", None), versions=getattr(policy, "versions", None),
        labels=dict(src.labels), base_image=pin(stack.base_image_for(spec)), batching=batching_of(spec))


def _topic(name: str, t: TopicSpec) -> TopicArgs:
    config = {"retention.ms": str(t.retention_ms), "cleanup.policy": t.cleanup_policy}
    config.update({str(k): str(v) for k, v in t.config.items()})
    return TopicArgs(name=name, partitions=t.partitions, replication_factor=t.replication_factor, config=config)


def model_service_args(spec: ModelServiceSpec, stack: StackConfig, model: ResolvedModel,
                       network: pulumi.Input[str], events_topic: pulumi.Input[str]) -> ModelServiceArgs:
    """Arguments of the ModelService for ``spec`` on ``stack``."""
    spec = apply_stack_config(spec, stack)
    s = spec.serving
    labels = {
        "maas.stack": stack.stack,
        "maas.model": spec.name,
        "maas.digest": model.digest,
        **{f"maas.label.{k}": str(v) for k, v in spec.metadata.labels.items()},
    }
    alias = f"{spec.name}-replicas"
    bootstrap = ",".join(stack.kafka.bootstrap_servers)
    names = topic_names(stack.stack, spec.name)
    memory_mb = s.resources.memory_bytes // (1024 * 1024) if s.resources.memory_bytes else None
    return ModelServiceArgs(
        image=ModelImageArgs(context=str(model.context), registry=stack.registry, repository=model.repository,
                             tag=model.tag, labels=model.recipe.labels),
        replicas=ServingReplicasArgs(
            model_name=spec.name, image="", replicas=s.replicas, network=network, alias=alias,
            server_args=model.recipe.server_args + [f"--drain_seconds={s.drain_seconds}"],
            labels=labels, name_prefix=f"{stack.stack}-{spec.name}", env=dict(s.env),
            cpus=s.resources.cpus, memory_mb=memory_mb,
            health_interval_s=s.health.interval_seconds, health_timeout_s=s.health.timeout_seconds,
            health_retries=s.health.retries, health_start_period_s=s.health.start_period_seconds,
            drain_seconds=s.drain_seconds, healthy_timeout_s=spec.rollout.health_timeout_seconds),
        router=RouterArgs(
            model_name=spec.name, image=stack.router_image, network=network, replica_alias=alias,
            replicas=s.replicas, bind_address=stack.bind_address, rest_port=s.ports.rest, grpc_port=s.ports.grpc,
            # No digest on the router: labels are part of a container's identity, and the router
            # (fixed name and ports, so delete-before-replace) must outlive every rollout.
            labels={**{k: v for k, v in labels.items() if k != "maas.digest"}, "maas.role": "router"},
            name=f"{stack.stack}-{spec.name}-router"),
        topics=ModelTopicsArgs(
            requests=_topic(names.requests, spec.topics.requests),
            predictions=_topic(names.predictions, spec.topics.predictions),
            bootstrap_servers=bootstrap, allow_destructive=spec.topics.allow_destructive_changes,
            protect=stack.protect),
        event=EventArgs(bootstrap_servers=bootstrap, topic=events_topic, stack=stack.stack,
                        git_sha=model.revision.sha, repository=spec.source.repository, digest=model.digest,
                        versions=list(model.recipe.tree.served)),
    )
