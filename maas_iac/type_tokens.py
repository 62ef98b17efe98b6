"""Type tokens of the resources maas-iac declares, for code that reads previews and state.

Frozen: every stack's state records them, so a change replaces resources. The components
pass theirs to ``ComponentResource``; the dynamic providers' tokens follow from their class
keywords (``pulumi-python:dynamic/<module>:<name>``), which a test keeps equal to these.
"""

from __future__ import annotations

__all__ = [
    "BRIDGE", "CONTAINER", "CONTAINER_SWEEPER", "K8S_DEPLOYMENT", "K8S_PREFIX", "K8S_PROVIDER", "KAFKA_ACL",
    "KAFKA_PROVIDER", "KAFKA_SCRAM_USER", "LEGACY_TOPIC",
    "MODEL_IMAGE", "MODEL_SERVICE", "MODEL_TOPICS", "MODEL_VERSION_EVENT", "NETWORK", "REGISTRY_IMAGE",
    "ROUTER", "SERVING_REPLICAS", "TOPIC",
]

MODEL_SERVICE = "maas:index:ModelService"
MODEL_IMAGE = "maas:index:ModelImage"
SERVING_REPLICAS = "maas:index:ServingReplicas"
ROUTER = "maas:index:Router"
MODEL_TOPICS = "maas:index:ModelTopics"
BRIDGE = "maas:index:Bridge"

NETWORK = "pulumi-python:dynamic/docker:Network"
CONTAINER = "pulumi-python:dynamic/docker:Container"
REGISTRY_IMAGE = "pulumi-python:dynamic/docker:RegistryImage"
CONTAINER_SWEEPER = "pulumi-python:dynamic/docker:ContainerSweeper"
MODEL_VERSION_EVENT = "pulumi-python:dynamic/events:ModelVersionEvent"

# The pulumi-kafka provider's resources.
TOPIC = "kafka:index/topic:Topic"
KAFKA_ACL = "kafka:index/acl:Acl"
KAFKA_SCRAM_USER = "kafka:index/userScramCredential:UserScramCredential"
KAFKA_PROVIDER = "pulumi:providers:kafka"

# The pulumi-kubernetes provider's resources (a stack whose engine is kubernetes).
K8S_PREFIX = "kubernetes:"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_PROVIDER = "pulumi:providers:kubernetes"

LEGACY_TOPIC = "pulumi-python:dynamic/kafka:Topic"
"""Topics of stacks deployed before the pulumi-kafka provider: retired without touching the
broker (:mod:`maas_iac.providers.kafka_topic`) while the same topics are adopted as :data:`TOPIC`."""
