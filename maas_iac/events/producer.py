"""``ModelVersionEvent``: a resource whose creation (and each update) announces a deployed
version on the stack's model-events topic.

It depends on the replicas, so the event is produced only once they are healthy. Its inputs
are the version's identity (Git SHA, digest, image, versions, replicas): an unchanged model
produces nothing, a new one produces exactly one event. Deleting it (the model leaves the
stack) produces a tombstone for the model's key, so the compacted topic forgets it.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from maas_iac.clients.endpoints import KafkaEndpoint
from maas_iac.clients.kafka import producer as new_producer

__all__ = ["ModelVersionEvent", "produce"]

_IDENTITY = ("topic", "model", "stack", "git_sha", "repository", "digest", "image", "versions", "replicas")


def produce(kafka: KafkaEndpoint, topic: str, key: str, value: Optional[bytes], timeout_s: float = 30) -> None:
    """Produce one record with ``acks=all`` and idempotence on, and wait for it to be acknowledged."""
    producer = new_producer(kafka, **{"acks": "all", "enable.idempotence": True,
                                      "message.timeout.ms": int(timeout_s * 1000)})
    failures: list[str] = []
    producer.produce(topic, key=key.encode(), value=value,
                     on_delivery=lambda err, _msg: failures.append(str(err)) if err else None)
    if producer.flush(timeout_s) > 0:
        failures.append(f"not acknowledged within {timeout_s:.0f}s")
    if failures:
        raise RuntimeError(f"could not produce the event for {key} to {topic} at {kafka.bootstrap}: {failures[0]}")


def _event_bytes(props: dict[str, Any]) -> bytes:
    from maas_iac.events.schema import deployed_event

    event = deployed_event(model=props["model"], stack=props["stack"], git_sha=props["git_sha"],
                           repository=props["repository"], digest=props["digest"], image=props["image"],
                           versions=[int(v) for v in props["versions"]], replicas=int(props["replicas"]))
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def _kafka(props: dict[str, Any]) -> KafkaEndpoint:
    """The cluster in the ``kafka`` input; only ``bootstrap_servers`` in state that predates it."""
    return KafkaEndpoint.from_props(props.get("kafka") or {"bootstrap_servers": props["bootstrap_servers"]})


class _EventProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        produce(_kafka(props), props["topic"], props["model"], _event_bytes(props))
        return CreateResult(f"{props['stack']}/{props['model']}", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _IDENTITY if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        produce(_kafka(news), news["topic"], news["model"], _event_bytes(news))
        return UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        try:
            produce(_kafka(props), props["topic"], props["model"], None, timeout_s=10)
        except Exception as exc:  # the topic may be gone with the stack; forgetting is the goal
            pulumi.log.warn(f"no tombstone for {props['model']}: {exc}")


class ModelVersionEvent(pulumi.dynamic.Resource, module="events", name="ModelVersionEvent"):
    """Announces a model version on ``topic`` once created; again whenever the version changes."""

    def __init__(self, resource_name: str, *, bootstrap_servers: pulumi.Input[str], topic: pulumi.Input[str],
                 model: str, stack: str, git_sha: str, repository: str, digest: str,
                 image: pulumi.Input[str], versions: list[int], replicas: int,
                 kafka: Optional[pulumi.Input[dict[str, Any]]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        """``kafka``: how to reach the cluster, ``KafkaEndpoint.to_props()`` (unset: PLAINTEXT to
        ``bootstrap_servers``). Only the version's identity decides whether an event is produced."""
        props = {
            "bootstrap_servers": bootstrap_servers, "topic": topic, "model": model, "stack": stack,
            "git_sha": git_sha, "repository": repository, "digest": digest, "image": image,
            "versions": list(versions), "replicas": replicas, "kafka": kafka,
        }
        super().__init__(_EventProvider(), resource_name, props, opts)
