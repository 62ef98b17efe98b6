"""ModelTopics: the model's requests and predictions topics, with guard rails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import pulumi

from maas_iac import type_tokens
from maas_iac.providers import Topic

__all__ = ["ModelTopics", "ModelTopicsArgs", "TopicArgs"]


@dataclass(frozen=True)
class TopicArgs:
    """One topic as the spec declares it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    """Only these keys are compared with the broker: its defaults are never drift."""


@dataclass(frozen=True)
class ModelTopicsArgs:
    """Inputs of :class:`ModelTopics`."""

    requests: TopicArgs
    predictions: TopicArgs
    bootstrap_servers: str
    errors: Optional[TopicArgs] = None
    """``<stack>.<model>.errors``, declared when the model's bridge runs."""
    allow_destructive: bool = False
    """Opt-in for replication-factor changes and partition decreases (delete and recreate)."""
    protect: bool = False
    """Protect the topics from deletion (production stacks)."""


class ModelTopics(pulumi.ComponentResource):
    """``<stack>.<model>.requests`` and ``<stack>.<model>.predictions`` (and ``.errors`` if given).

    Partitions only grow in place. A replication-factor change or a partition decrease is
    refused while the preview runs, before anything changes, unless the spec opts in.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        requests_topic: pulumi.Output[str]
        predictions_topic: pulumi.Output[str]

    def __init__(self, name: str, args: ModelTopicsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.MODEL_TOPICS, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self.topics = {
            role: Topic(
                f"{name}-{role}",
                name=t.name,
                partitions=t.partitions,
                replication_factor=t.replication_factor,
                config=t.config,
                bootstrap_servers=args.bootstrap_servers,
                allow_destructive=args.allow_destructive,
                opts=child,
            )
            for role, t in (("requests", args.requests), ("predictions", args.predictions), ("errors", args.errors))
            if t is not None
        }
        self.requests_topic = self.topics["requests"].name
        self.predictions_topic = self.topics["predictions"].name
        outputs = {"requests_topic": self.requests_topic, "predictions_topic": self.predictions_topic}
        if "errors" in self.topics:
            self.errors_topic = self.topics["errors"].name
            outputs["errors_topic"] = self.errors_topic
        self.register_outputs(outputs)
