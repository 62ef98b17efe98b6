"""The stack's cluster: the pulumi-kubernetes provider, the namespace the stack owns and, when
the stack's registry wants a login, the pull secret every pod names."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from maas_iac.clients.endpoints import KubernetesEndpoint, RegistryEndpoint

__all__ = ["ClusterTarget", "StackCluster", "service_host"]

PULL_SECRET = "maas-registry"
FORCE_APPLY = "pulumi.com/patchForce"
"""pulumi-kubernetes' annotation for applying with ``force``: this stack's field manager wins
conflicts over the fields it declares."""


def service_host(service: str, namespace: str) -> str:
    """A Service's name as pods resolve it through the cluster DNS."""
    return f"{service}.{namespace}.svc.cluster.local"


@dataclass(frozen=True)
class ClusterTarget:
    """Where a model's workloads go: the provider, the namespace and the pull secret's name."""

    provider: pulumi.ProviderResource
    namespace: pulumi.Input[str]
    """The namespace's name as an output of the Namespace, so workloads wait for it."""
    namespace_name: str
    """The same name, known now (for DNS names such as the router's Service)."""
    pull_secret: Optional[str] = None
    depends_on: tuple[pulumi.Resource, ...] = ()

    def opts(self, parent: pulumi.Resource, **kw: Any) -> pulumi.ResourceOptions:
        """Options of a resource of this cluster, a child of ``parent``."""
        depends = [*self.depends_on, *kw.pop("depends_on", ())]
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, depends_on=depends or None, **kw)

    def metadata(self, name: str, labels: dict[str, str], annotations: Optional[dict[str, str]] = None) -> dict[str, Any]:
        """An object's metadata in the stack's namespace. The stack owns what it declares: a field
        taken over by hand (``kubectl scale``, ``kubectl set env``) is applied back by the next
        ``up`` instead of failing it with a server-side apply conflict."""
        return {"name": name, "namespace": self.namespace, "labels": labels,
                "annotations": {**(annotations or {}), FORCE_APPLY: "true"}}


def _docker_config(registry: RegistryEndpoint, password: str) -> str:
    token = base64.b64encode(f"{registry.username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry.address: {"auth": token}}})


class StackCluster:
    """The provider (kubeconfig read on this machine, never copied into the state), the
    stack's Namespace and its registry pull secret."""

    def __init__(self, stack: str, cluster: KubernetesEndpoint, registry: RegistryEndpoint) -> None:
        provider = k8s.Provider(
            "kubernetes", kubeconfig=cluster.kubeconfig, context=cluster.context, namespace=cluster.namespace,
            enable_server_side_apply=True)
        namespace = k8s.core.v1.Namespace(
            "namespace", metadata={"name": cluster.namespace, "labels": {"maas.stack": stack}},
            opts=pulumi.ResourceOptions(provider=provider))
        pull_secret = None
        depends: list[pulumi.Resource] = []
        if registry.username and registry.password is not None:
            password = registry.password
            secret = k8s.core.v1.Secret(
                "registry-login",
                metadata={"name": PULL_SECRET, "namespace": namespace.metadata.name, "labels": {"maas.stack": stack}},
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": pulumi.Output.secret(
                    pulumi.Output.from_input(password).apply(lambda p: _docker_config(registry, p)))},
                opts=pulumi.ResourceOptions(provider=provider))
            pull_secret = PULL_SECRET
            depends.append(secret)
        self.provider = provider
        self.namespace = namespace
        self.target = ClusterTarget(provider=provider, namespace=namespace.metadata.name,
                                    namespace_name=cluster.namespace, pull_secret=pull_secret,
                                    depends_on=tuple(depends))
