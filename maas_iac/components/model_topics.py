"""ModelTopics: the model's requests and predictions topics, through the pulumi-kafka provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import pulumi

from maas_iac import type_tokens
from maas_iac.kafka.access import AclRule, acl_resources

__all__ = ["ModelTopics", "ModelTopicsArgs", "TopicArgs", "kafka_topic"]


@dataclass(frozen=True)
class TopicArgs:
    """One topic as the spec declares it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    """Only these keys are set and compared: the broker's defaults are never drift."""


@dataclass(frozen=True)
class ModelTopicsArgs:
    """Inputs of :class:`ModelTopics`."""

    requests: TopicArgs
    predictions: TopicArgs
    provider: Optional[pulumi.ProviderResource] = None
    """The stack's pulumi-kafka provider (:func:`maas_iac.kafka.cluster.kafka_provider`)."""
    errors: Optional[TopicArgs] = None
    """``<stack>.<model>.errors``, declared when the model's bridge runs."""
    allow_destructive: bool = False
    """The spec's opt-in for changes that recreate a topic (checked before registration by
    :mod:`maas_iac.kafka.guard`; without it such a change never reaches the engine)."""
    protect: bool = False
    """Protect the topics from deletion (production stacks)."""
    adopt: frozenset[str] = field(default_factory=frozenset)
    """Topics that already exist on the broker: imported by name, never recreated."""
    acls: tuple[AclRule, ...] = ()
    """Who may use the topics (:func:`maas_iac.kafka.access.model_acl_rules`)."""
    bridge_acls: tuple[AclRule, ...] = ()
    """The bridge's own principal's (:func:`maas_iac.kafka.access.bridge_acl_rules`), when the
    spec names one: declared after ``acls``, and what the bridge containers wait for."""


def kafka_topic(name: str, t: TopicArgs, *, provider: Optional[pulumi.ProviderResource], adopt: bool,
                parent: Optional[pulumi.Resource] = None, protect: bool = False) -> pulumi.CustomResource:
    """A ``kafka:index/topic:Topic``; a live topic of that name is adopted (``import``), and a
    replacement (only ever with the spec's opt-in) deletes the old topic first."""
    import pulumi_kafka

    return pulumi_kafka.Topic(
        name,
        name=t.name,
        partitions=t.partitions,
        replication_factor=t.replication_factor,
        config=dict(t.config),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=protect,
                                    import_=t.name if adopt else None, delete_before_replace=True),
    )


class ModelTopics(pulumi.ComponentResource):
    """``<stack>.<model>.requests`` and ``<stack>.<model>.predictions`` (and ``.errors`` if given).

    Partitions grow and declared config keys change in place. A change that would recreate a
    topic is refused before registration unless the spec opts in.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        requests_topic: pulumi.Output[str]
        predictions_topic: pulumi.Output[str]

    def __init__(self, name: str, args: ModelTopicsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.MODEL_TOPICS, name, None, opts)
        self.topics = {
            role: kafka_topic(f"{name}-{role}", t, provider=args.provider, adopt=t.name in args.adopt,
                              parent=self, protect=args.protect)
            for role, t in (("requests", args.requests), ("predictions", args.predictions), ("errors", args.errors))
            if t is not None
        }
        self.acls = acl_resources(f"{name}-acl", list(args.acls), provider=args.provider, parent=self)
        self.bridge_acls = acl_resources(f"{name}-acl", list(args.bridge_acls), provider=args.provider, parent=self)
        """The ACL resources of the bridge's principal (none when the spec names none)."""
        self.requests_topic = self.topics["requests"].name
        self.predictions_topic = self.topics["predictions"].name
        self.errors_topic = self.topics["errors"].name if "errors" in self.topics else None
        """``<stack>.<model>.errors``, when declared."""
        outputs = {"requests_topic": self.requests_topic, "predictions_topic": self.predictions_topic}
        if "errors" in self.topics:
            self.errors_topic = self.topics["errors"].name
            outputs["errors_topic"] = self.errors_topic
        self.register_outputs(outputs)
