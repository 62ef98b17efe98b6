"""The model service's workloads on a Kubernetes cluster (a stack whose ``maas:engine`` is
``kubernetes``), through the pulumi-kubernetes provider.

The same arguments as on Docker (:class:`~maas_iac.components.ReplicaSettings`,
:class:`~maas_iac.components.RouterArgs`, :class:`~maas_iac.components.BridgeArgs`) become,
in the stack's namespace:

* :mod:`.cluster`: the provider, the namespace and the registry pull secret;
* :mod:`.serving`: the replicas' Deployment, their headless Service and disruption budget;
* :mod:`.router`: the router's Deployment and the NodePort Service publishing REST and gRPC;
* :mod:`.bridge`: one Deployment per Kafka bridge instance.

The components keep the Docker ones' type tokens and child names, so the preview card and
``maas drift`` read both engines the same way.
"""

from maas_iac.components.k8s.bridge import KubeBridge
from maas_iac.components.k8s.cluster import ClusterTarget, StackCluster
from maas_iac.components.k8s.router import KubeRouter
from maas_iac.components.k8s.serving import KubeServingReplicas

__all__ = ["ClusterTarget", "KubeBridge", "KubeRouter", "KubeServingReplicas", "StackCluster"]
