"""Model-version events on Kafka: their schema and the resource that produces them."""

from maas_iac.events.producer import ModelVersionEvent, produce
from maas_iac.events.schema import EVENT_TYPE, SCHEMA_PATH, deployed_event, validate_event

__all__ = ["EVENT_TYPE", "SCHEMA_PATH", "ModelVersionEvent", "deployed_event", "produce", "validate_event"]
