"""Pulumi components: thin ComponentResources that wire the dynamic providers together.

Type tokens (``maas:index:<Class>``) and child names are the resources' identity in every
stack's state: changing one replaces resources, so a change needs an alias and a preview test.
"""

from maas_iac.components.bridge import Bridge, BridgeArgs, bridge_placement
from maas_iac.components.model_image import ModelImage, ModelImageArgs
from maas_iac.components.model_service import EventArgs, ModelService, ModelServiceArgs
from maas_iac.components.model_topics import ModelTopics, ModelTopicsArgs, TopicArgs
from maas_iac.components.router import Router, RouterArgs, router_slots
from maas_iac.components.serving_replicas import ReplicaSettings, ServingReplicas, ServingReplicasArgs

__all__ = [
    "Bridge", "BridgeArgs", "EventArgs", "ModelImage", "ModelImageArgs", "ModelService", "ModelServiceArgs",
    "ModelTopics", "ModelTopicsArgs", "ReplicaSettings", "Router", "RouterArgs", "ServingReplicas",
    "ServingReplicasArgs", "TopicArgs", "bridge_placement", "router_slots",
]
