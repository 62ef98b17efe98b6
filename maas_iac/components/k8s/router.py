"""The model's router on Kubernetes: the same HAProxy configuration as on Docker (the gRPC and
REST allow-list, health checks, retries), resolving the replicas' headless Service through the
cluster's DNS, behind a NodePort Service that publishes REST and gRPC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_kubernetes as k8s

from maas_dataplane.contract import GRPC_PORT, REST_PORT
from maas_iac import type_tokens
from maas_iac.artifacts.router_config import RouterConfig, render_router_config
from maas_iac.components.k8s.cluster import ClusterTarget
from maas_iac.components.k8s.pods import ROLLING, pod_labels, pod_spec, resources
from maas_iac.components.k8s.serving import replicas_service_host
from maas_iac.components.router import ROUTER_COMMAND, ROUTER_CONFIG_ENV, RouterArgs, endpoint_host, router_slots

__all__ = ["KubeRouter"]


def _node_port(service: k8s.core.v1.Service, port: int) -> pulumi.Output[int]:
    return service.spec.apply(lambda spec: next(p.node_port for p in spec.ports if p.port == port))


class KubeRouter(pulumi.ComponentResource):
    """A Deployment ``<model>-router`` and the Service ``<model>``: type NodePort, so kube-proxy
    publishes it on the node addresses it is given (127.0.0.1 on the local cluster); the node
    ports are the cluster's choice and the endpoints say which."""

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        rest_endpoint: pulumi.Output[str]
        grpc_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: RouterArgs, cluster: ClusterTarget,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.ROUTER, name, None, opts)
        config = render_router_config(RouterConfig(
            model_name=args.model_name, replica_alias=replicas_service_host(args.model_name, cluster.namespace_name),
            slots=router_slots(args.replicas), resolver="cluster"))
        selector = pod_labels(args.labels)
        container = {
            "name": "haproxy",
            "image": args.image,
            "command": ROUTER_COMMAND,
            "env": [{"name": ROUTER_CONFIG_ENV, "value": config}],
            "ports": [{"name": "rest", "containerPort": REST_PORT}, {"name": "grpc", "containerPort": GRPC_PORT}],
            "readinessProbe": {"tcpSocket": {"port": REST_PORT}, "periodSeconds": 1, "failureThreshold": 2},
            "livenessProbe": {"tcpSocket": {"port": REST_PORT}, "periodSeconds": 10, "failureThreshold": 3},
            "resources": resources(None, None),
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=cluster.metadata(f"{args.model_name}-router", selector),
            spec={"replicas": 1, "selector": {"matchLabels": selector}, "strategy": ROLLING,
                  "revisionHistoryLimit": 3,
                  "template": {"metadata": {"labels": selector},
                               "spec": pod_spec([container], grace_s=5, pull_secret=cluster.pull_secret)}},
            opts=cluster.opts(self))
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=cluster.metadata(args.model_name, selector),
            spec={"type": "NodePort", "selector": selector,
                  "ports": [{"name": "rest", "port": REST_PORT, "targetPort": "rest"},
                            {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "kubernetes.io/h2c"}]},
            opts=cluster.opts(self))
        host = endpoint_host(args.bind_address)
        self.rest_endpoint = _node_port(self.service, REST_PORT).apply(
            lambda port: f"http://{host}:{port}/v1/models/{args.model_name}")
        self.grpc_endpoint = _node_port(self.service, GRPC_PORT).apply(lambda port: f"{host}:{port}")
        self.register_outputs({"rest_endpoint": self.rest_endpoint, "grpc_endpoint": self.grpc_endpoint})
