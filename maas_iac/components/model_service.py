"""ModelService (``maas:index:ModelService``): one spec in, a whole model service out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pulumi

from maas_iac import type_tokens
from maas_iac.components.bridge import Bridge, BridgeArgs
from maas_iac.components.k8s import ClusterTarget, KubeBridge, KubeRouter, KubeServingReplicas
from maas_iac.components.model_image import ModelImage, ModelImageArgs
from maas_iac.components.model_topics import ModelTopics, ModelTopicsArgs
from maas_iac.components.router import Router, RouterArgs
from maas_iac.components.serving_replicas import ReplicaSettings, ServingReplicas, ServingReplicasArgs
from maas_iac.events import ModelVersionEvent

__all__ = ["EventArgs", "ModelService", "ModelServiceArgs"]


@dataclass(frozen=True)
class EventArgs:
    """Where and what to announce once the replicas are healthy."""

    bootstrap_servers: str
    topic: pulumi.Input[str]
    stack: str
    git_sha: str
    repository: str
    digest: str
    versions: list[int]
    kafka: Optional[dict[str, Any]] = None
    """How to reach the cluster, ``KafkaEndpoint.to_props()`` (the password a secret)."""


@dataclass(frozen=True)
class ModelServiceArgs:
    """Inputs of a :class:`ModelService`, already resolved (Git SHA, digest, tag known)."""

    image: ModelImageArgs
    replicas: ReplicaSettings
    """The replicas run the ModelImage's repo digest."""
    router: RouterArgs
    topics: ModelTopicsArgs
    event: EventArgs
    bridge: Optional[BridgeArgs] = None
    """The model's Kafka inference bridge, when its spec runs one."""
    cluster: Optional[ClusterTarget] = None
    """The Kubernetes cluster that runs the replicas, router and bridge (the stack's engine
    is kubernetes); None: Docker."""


class ModelService(pulumi.ComponentResource):
    """A model service: image, replicas, router, topics and its deployment event.

    The replicas, router and bridge are Docker containers, or Kubernetes Deployments and
    Services when ``args.cluster`` is set; either way under the same child names.

    Children are named after the service (``<name>-image``, ``<name>-replicas``,
    ``<name>-router``, ``<name>-topics``, ``<name>-bridge`` when the spec runs one,
    ``<name>-deployed``); these names are the resources'
    identity in the state and must not change casually.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        rest_endpoint: pulumi.Output[str]
        grpc_endpoint: pulumi.Output[str]
        image: pulumi.Output[str]
        requests_topic: pulumi.Output[str]
        predictions_topic: pulumi.Output[str]
        container_ids: pulumi.Output[list[str]]
        """Every Docker container of the service (replicas, router, bridge); none on Kubernetes."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.MODEL_SERVICE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        image = ModelImage(f"{name}-image", args.image, child)
        replica_args = ServingReplicasArgs(image=image.repo_digest, settings=args.replicas)
        cluster = args.cluster
        replicas: ServingReplicas | KubeServingReplicas
        router: Router | KubeRouter
        if cluster is None:
            replicas = ServingReplicas(f"{name}-replicas", replica_args, child)
            router = Router(f"{name}-router", args.router, child)
        else:
            replicas = KubeServingReplicas(f"{name}-replicas", replica_args, cluster, child)
            router = KubeRouter(f"{name}-router", args.router, cluster, child)
        topics = ModelTopics(f"{name}-topics", args.topics, child)
        ev = args.event
        ModelVersionEvent(
            f"{name}-deployed",
            bootstrap_servers=ev.bootstrap_servers, topic=ev.topic, model=args.replicas.model_name,
            stack=ev.stack, git_sha=ev.git_sha, repository=ev.repository, digest=ev.digest,
            image=image.repo_digest, versions=ev.versions, replicas=args.replicas.replicas, kafka=ev.kafka,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[replicas, router, topics]),
        )
        self.rest_endpoint = router.rest_endpoint
        self.grpc_endpoint = router.grpc_endpoint
        self.image = image.repo_digest
        self.requests_topic = topics.requests_topic
        self.predictions_topic = topics.predictions_topic
        bridge_ids: pulumi.Output[list[str]] = pulumi.Output.from_input([])
        if args.bridge is not None:
            bridge_opts = pulumi.ResourceOptions(parent=self, depends_on=[router, topics])
            if cluster is None:
                bridge_ids = Bridge(f"{name}-bridge", args.bridge, bridge_opts, acls=topics.bridge_acls).container_ids
            else:
                KubeBridge(f"{name}-bridge", args.bridge, cluster, bridge_opts, acls=topics.bridge_acls)
        if cluster is None:
            self.container_ids = pulumi.Output.all(replicas.container_ids, router.container.container_id,
                                                   bridge_ids).apply(lambda ids: [*ids[0], ids[1], *ids[2]])
        else:  # the cluster owns its pods: no container of the stack's Docker engine
            self.container_ids = pulumi.Output.from_input([])
        self.register_outputs({
            "rest_endpoint": self.rest_endpoint,
            "grpc_endpoint": self.grpc_endpoint,
            "image": self.image,
            "requests_topic": self.requests_topic,
            "predictions_topic": self.predictions_topic,
            "container_ids": self.container_ids,
        })
