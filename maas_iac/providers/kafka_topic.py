"""Retirement of the dynamic-provider topics of stacks deployed before the pulumi-kafka provider.

Stacks deployed by earlier releases hold their topics as ``pulumi-python:dynamic/kafka:Topic``
resources, whose state names :class:`TopicProvider` of this module. The program now declares
the same topics as ``kafka:index/topic:Topic`` resources and adopts the live topics (``import``),
so the engine deletes the old resources from the state. This provider makes that deletion
touch nothing: the topic and its records stay where they are, now managed by pulumi-kafka.
It is never used for new resources.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import DiffResult, ReadResult, ResourceProvider

__all__ = ["TopicProvider"]


class TopicProvider(ResourceProvider):
    """Keeps the old resource's recorded values on refresh and leaves the broker alone on delete."""

    serialize_as_secret_always = False

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # The topic is adopted by the pulumi-kafka resource of the same name: deleting the old
        # record must not delete the topic.
        return None
