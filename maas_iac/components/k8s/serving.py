"""The model's replicas on Kubernetes: a Deployment, a headless Service the router resolves and
a PodDisruptionBudget."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_kubernetes as k8s

from maas_dataplane.contract import GRPC_PORT, REST_PORT
from maas_dataplane.probe import health_command
from maas_iac import type_tokens
from maas_iac.components.k8s.cluster import ClusterTarget, service_host
from maas_iac.components.k8s.pods import ROLLING, pod_labels, pod_spec, resources, spec_labels
from maas_iac.components.serving_replicas import ServingReplicasArgs

__all__ = ["DNS_SETTLE_S", "KubeServingReplicas", "replicas_service_host"]

DNS_SETTLE_S = 6
"""Seconds a new replica is Ready before the rollout moves on: CoreDNS's TTL for Service
records (5 s) plus the router's 1 s re-resolution."""


def replicas_service_host(model: str, namespace: str) -> str:
    """The headless Service's DNS name: one A record per Ready replica."""
    return service_host(f"{model}-replicas", namespace)


class KubeServingReplicas(pulumi.ComponentResource):
    """The replicas as one Deployment (``<model>-replicas``), rolled with maxUnavailable 0.

    A pod is Ready only while its model server reports a version AVAILABLE (the same probe as
    Docker's health check); the Deployment's rollout, which ``pulumi up`` waits for, moves on
    only then. A terminating pod leaves the Service's endpoints, fails its status checks and
    goes on serving for ``--drain_seconds``; its grace period is longer than that. The pod
    template changes only with the image (by repo digest) or the serving settings, so an
    unchanged model restarts nothing.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        deployment_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServingReplicasArgs, cluster: ClusterTarget,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.SERVING_REPLICAS, name, None, opts)
        s = args.settings
        selector = pod_labels(s.labels)
        annotations = spec_labels(s.labels)
        probe_exec = {"command": health_command(s.model_name)[1:]}  # without Docker's "CMD"
        period = max(1, math.ceil(s.health_interval_s))
        container = {
            "name": "serving",
            "image": args.image,
            "args": s.server_args,
            "env": [{"name": k, "value": v} for k, v in sorted(s.env.items())],
            "ports": [{"name": "rest", "containerPort": REST_PORT}, {"name": "grpc", "containerPort": GRPC_PORT}],
            # Loading may take as long as the rollout allows; readiness and liveness wait for it.
            "startupProbe": {"exec": probe_exec, "periodSeconds": 1, "timeoutSeconds": max(1, math.ceil(s.health_timeout_s)),
                             "failureThreshold": max(s.healthy_timeout_s, math.ceil(s.health_start_period_s))},
            "readinessProbe": {"exec": probe_exec, "periodSeconds": period,
                               "timeoutSeconds": max(1, math.ceil(s.health_timeout_s)), "failureThreshold": 2},
            # Alive while it accepts connections: a model going unavailable is readiness's
            # business (the pod leaves the Service), not a reason to kill the process.
            "livenessProbe": {"tcpSocket": {"port": REST_PORT}, "periodSeconds": 10, "timeoutSeconds": 5,
                              "failureThreshold": max(3, s.health_retries)},
            "resources": resources(s.cpus, s.memory_mb),
        }
        meta_name = f"{s.model_name}-replicas"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=cluster.metadata(meta_name, selector, annotations),
            spec={
                "replicas": s.replicas,
                "selector": {"matchLabels": selector},
                "strategy": ROLLING,
                # A Ready pod counts as available only after the cluster DNS's answers (5 s TTL)
                # can have reached the router, so an old pod never stops before its successor
                # takes requests.
                "minReadySeconds": DNS_SETTLE_S,
                "revisionHistoryLimit": 3,
                "progressDeadlineSeconds": s.healthy_timeout_s,
                "template": {
                    "metadata": {"labels": selector,
                                 "annotations": {**annotations, "maas.digest": s.labels.get("maas.digest", "")}},
                    "spec": pod_spec([container], grace_s=s.drain_seconds + 10, pull_secret=cluster.pull_secret),
                },
            },
            opts=cluster.opts(self, custom_timeouts=pulumi.CustomTimeouts(
                create=f"{s.healthy_timeout_s}s", update=f"{s.healthy_timeout_s}s")))
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=cluster.metadata(meta_name, selector),
            spec={"clusterIP": "None", "selector": selector,
                  "ports": [{"name": "rest", "port": REST_PORT, "targetPort": "rest"},
                            {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"}]},
            opts=cluster.opts(self))
        # Voluntary disruptions (a drain) take one replica at a time.
        self.budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-budget",
            metadata=cluster.metadata(meta_name, selector),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            opts=cluster.opts(self))
        self.deployment_name = self.deployment.metadata.name
        self.register_outputs({"deployment_name": self.deployment_name})
