"""Names derived from specs: Kafka topics per model and per stack.

Topic names are derived, never written in a spec, so that a model's topics follow it from
stack to stack: ``<stack>.<model>.requests``, ``<stack>.<model>.predictions`` and one
compacted ``<stack>.model-events`` per stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_TOPIC_NAME_LENGTH",
    "TopicNames",
    "bridge_group",
    "events_topic",
    "principal_user",
    "topic_collision_key",
    "topic_name_problem",
    "topic_names",
]

MAX_TOPIC_NAME_LENGTH = 249
"""Kafka's limit on topic name length."""
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics of one model on one stack (iterating gives the requests and predictions
    topics; ``errors`` exists when the model's bridge runs)."""

    requests: str
    """``<stack>.<model>.requests``."""
    predictions: str
    """``<stack>.<model>.predictions``."""
    errors: str = ""
    """``<stack>.<model>.errors``: requests the bridge can never answer."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.requests, self.predictions))


def topic_names(stack: str, model: str) -> TopicNames:
    """The requests, predictions and errors topic names of ``model`` on ``stack``."""
    return TopicNames(f"{stack}.{model}.requests", f"{stack}.{model}.predictions", f"{stack}.{model}.errors")


def bridge_group(stack: str, model: str) -> str:
    """The consumer group of ``model``'s bridge on ``stack``: ``<stack>.<model>.bridge``, the
    group the bridge joins when it is given no other (``maas_dataplane.bridge.config``)."""
    return f"{stack}.{model}.bridge"


def principal_user(principal: str) -> str:
    """The user name of a Kafka principal: ``bridge`` for ``User:bridge`` (its SASL login and
    its key in the stack's ``maas:kafkaUsers``)."""
    return principal.split(":", 1)[-1]


def events_topic(stack: str) -> str:
    """The stack's compacted model-version events topic, keyed by model name."""
    return f"{stack}.model-events"


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse topic ``name``, or ``None`` if it is legal."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "'.' and '..' are reserved"
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"it is {len(name)} characters long; the maximum is {MAX_TOPIC_NAME_LENGTH}"
    if not _LEGAL.match(name):
        return "only letters, digits, '.', '_' and '-' are allowed"
    return None


def topic_collision_key(name: str) -> str:
    """Kafka's metric names equate '.' and '_': topics with the same key collide."""
    return name.replace(".", "_")
