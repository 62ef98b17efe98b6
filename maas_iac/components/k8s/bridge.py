"""The model's Kafka bridge on Kubernetes: one single-pod Deployment per bridge instance.

A bridge instance's identity is its ordinal: ``transactional.id`` and ``group.instance.id``
``<stack>.<model>.bridge-<i>``, as on Docker. One Deployment per ordinal keeps that identity
through every replacement: a pod that is deleted, evicted or rolled comes back with the same
ordinal, and its new producer fences the old one at its first transaction, so a zombie can
never commit. (A StatefulSet would keep the ordinals too, but rolls each pod delete-first: the
partitions would wait for the new pod; here the new pod starts while the old one finishes.)

The SASL password reaches the pod from a Secret, never as a plain value in the Deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from maas_iac import type_tokens
from maas_iac.components.bridge import BRIDGE_COMMAND, HOST_NETWORK, PASSWORD_ENV, BridgeArgs, bridge_env
from maas_iac.components.k8s.cluster import ClusterTarget
from maas_iac.components.k8s.pods import ROLLING, pod_labels, pod_spec, resources

__all__ = ["KubeBridge"]


class KubeBridge(pulumi.ComponentResource):
    """``consumers`` Deployments ``<model>-bridge-<i>``, one pod each."""

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: BridgeArgs, cluster: ClusterTarget,
                 opts: Optional[pulumi.ResourceOptions] = None, *, acls: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__(type_tokens.BRIDGE, name, None, opts)
        labels = pod_labels({**args.labels, "maas.role": "bridge"})
        ready: list[pulumi.Resource] = [*acls, *([args.credential] if args.credential is not None else [])]
        secret_name = None
        if args.sasl_password is not None:
            secret_name = f"{args.model_name}-bridge-kafka"
            ready.append(k8s.core.v1.Secret(
                f"{name}-kafka-login", metadata=cluster.metadata(secret_name, labels),
                string_data={"password": pulumi.Output.secret(args.sasl_password)}, opts=cluster.opts(self)))
        self.deployments = []
        for i in range(args.consumers):
            env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(bridge_env(args, i).items())
                                         if k != PASSWORD_ENV]
            if secret_name:
                env.append({"name": PASSWORD_ENV,
                            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "password"}}})
            container = {"name": "bridge", "image": args.image, "args": BRIDGE_COMMAND, "env": env,
                         "resources": resources(args.cpus, args.memory_mb)}
            instance = {**labels, "maas.bridge": str(i)}
            self.deployments.append(k8s.apps.v1.Deployment(
                f"{name}-{i}",
                metadata=cluster.metadata(f"{args.model_name}-bridge-{i}", instance),
                spec={"replicas": 1, "selector": {"matchLabels": instance}, "strategy": ROLLING,
                      "revisionHistoryLimit": 3,
                      "template": {"metadata": {"labels": instance},
                                   "spec": pod_spec([container], grace_s=args.stop_grace_period_s,
                                                    pull_secret=cluster.pull_secret,
                                                    host_network=args.network == HOST_NETWORK)}},
                opts=cluster.opts(self, depends_on=ready)))
        self.names = pulumi.Output.all(*[d.metadata.name for d in self.deployments])
        self.register_outputs({"names": self.names})
