"""A Kafka topic, managed through the broker's admin API (confluent-kafka's AdminClient).

Guard rails: partitions only grow (in place); a replication-factor change, a partition
decrease or a rename would delete the topic and its data, so they are refused unless the
topic opts in with ``allow_destructive``. Only the config keys the program declares are
compared, so broker defaults never show up as drift.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from maas_iac.clients.endpoints import KafkaEndpoint
from maas_iac.clients.kafka import admin_client

from ._common import GONE, has_unknowns

_TIMEOUT_S = 30.0


def _endpoint(props: dict[str, Any]) -> KafkaEndpoint:
    """The cluster in a topic's ``kafka`` input; state recorded before it was an input has
    only ``bootstrap_servers`` (PLAINTEXT)."""
    if props.get("kafka"):
        return KafkaEndpoint.from_props(props["kafka"])
    return KafkaEndpoint.from_props({"bootstrap_servers": props["bootstrap_servers"]})


def _admin(props: dict[str, Any]) -> Any:
    return admin_client(_endpoint(props))


def _describe(admin: Any, name: str) -> Optional[Any]:
    """The topic's description, or None when the broker does not have it."""
    from confluent_kafka import KafkaError, KafkaException, TopicCollection

    future = admin.describe_topics(TopicCollection([name]), request_timeout=_TIMEOUT_S)[name]
    try:
        return future.result(timeout=_TIMEOUT_S)
    except KafkaException as err:
        if err.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise


def _live_config(admin: Any, name: str, keys: list[str]) -> dict[str, str]:
    """The broker's current values of the declared keys only."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    if not keys:
        return {}
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([resource], request_timeout=_TIMEOUT_S)[resource].result(timeout=_TIMEOUT_S)
    return {k: entries[k].value for k in keys if k in entries}


def _config(props: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (props.get("config") or {}).items()}


def _destructive(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Why applying news over olds would need the topic deleted and recreated (empty: it won't)."""
    if not olds or has_unknowns({k: news.get(k) for k in ("name", "partitions", "replication_factor")}):
        return []
    name = olds.get("name")
    reasons = []
    if news.get("name") != name:
        reasons.append(f"renaming topic {name!r} to {news.get('name')!r}")
    if int(news["partitions"]) < int(olds["partitions"]):
        reasons.append(f"reducing partitions of {name!r} from {int(olds['partitions'])} to {int(news['partitions'])}"
                       " (Kafka can only add partitions)")
    if int(news["replication_factor"]) != int(olds["replication_factor"]):
        reasons.append(f"changing the replication factor of {name!r} from "
                       f"{olds['replication_factor']} to {news['replication_factor']}")
    return reasons


def _refusal(reasons: list[str]) -> str:
    return ("; ".join(reasons) + " means deleting and recreating the topic, which loses its data. "
            "Set allow_destructive=True on this topic to accept that, or keep the old value.")


class TopicProvider(ResourceProvider):
    """CRUD for a Kafka topic. The id is the topic name."""

    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        for key in ("partitions", "replication_factor"):
            value = news.get(key)
            # Numbers arrive as floats (protobuf's Value has no integers).
            whole = isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value)
            if not has_unknowns(value) and (not whole or value < 1):
                failures.append(CheckFailure(key, f"{key} must be a positive integer, got {value!r}"))
        reasons = [] if failures or news.get("allow_destructive") else _destructive(olds, news)
        if reasons:
            failures.append(CheckFailure("allow_destructive", _refusal(reasons)))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        name = props["name"]
        admin = _admin(props)
        topic = NewTopic(name, num_partitions=int(props["partitions"]),
                         replication_factor=int(props["replication_factor"]), config=_config(props))
        # Delete waits for the broker, but a topic deleted by hand may still be going away.
        deadline = time.monotonic() + 10
        while True:
            future = admin.create_topics([topic], operation_timeout=_TIMEOUT_S,
                                         request_timeout=_TIMEOUT_S)[name]
            try:
                future.result(timeout=_TIMEOUT_S)
                break
            except KafkaException as err:
                if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"topic {name!r} already exists on {props['bootstrap_servers']} and is not "
                        "managed by this stack; import it (pulumi import) or pick another name") from err
                time.sleep(1)
        return CreateResult(name, self._outs(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        admin = _admin(props)
        description = _describe(admin, id_)
        if description is None:
            return GONE
        return ReadResult(id_, {
            **props,
            "name": id_,
            "partitions": len(description.partitions),
            "replication_factor": len(description.partitions[0].replicas),
            "config": _live_config(admin, id_, list(_config(props))),
        })

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        reasons = _destructive(olds, news)
        if reasons and not news.get("allow_destructive"):
            # Check refuses this against the old inputs; here the olds are what a refresh saw.
            raise ValueError(_refusal(reasons))
        if reasons:
            replaces = [k for k in ("name", "partitions", "replication_factor") if olds.get(k) != news.get(k)]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=True)
        if has_unknowns(news.get("partitions")) or has_unknowns(news.get("config")):
            changed = True
        else:
            changed = int(olds["partitions"]) != int(news["partitions"]) or _config(olds) != _config(news)
        # A new address changes nothing on the broker, but later reads and deletes must use it.
        changed = changed or olds.get("bootstrap_servers") != news.get("bootstrap_servers")
        return DiffResult(changes=changed, replaces=[])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from confluent_kafka.admin import (
            AlterConfigOpType,
            ConfigEntry,
            ConfigResource,
            NewPartitions,
            ResourceType,
        )

        admin = _admin(news)
        if int(news["partitions"]) > int(olds["partitions"]):
            admin.create_partitions([NewPartitions(id_, int(news["partitions"]))],
                                    operation_timeout=_TIMEOUT_S)[id_].result(timeout=_TIMEOUT_S)
        old_config, new_config = _config(olds), _config(news)
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                   for k, v in new_config.items() if old_config.get(k) != v]
        # A key no longer declared goes back to the broker's default.
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k in old_config if k not in new_config]
        if entries:
            resource = ConfigResource(ResourceType.TOPIC, id_, incremental_configs=entries)
            admin.incremental_alter_configs([resource])[resource].result(timeout=_TIMEOUT_S)
        return UpdateResult(self._outs(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from confluent_kafka import KafkaError, KafkaException

        admin = _admin(props)
        try:
            admin.delete_topics([id_], operation_timeout=_TIMEOUT_S)[id_].result(timeout=_TIMEOUT_S)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
        # Deletion is asynchronous on the broker; return once the topic is really gone.
        deadline = time.monotonic() + _TIMEOUT_S
        while _describe(admin, id_) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {id_!r} is still listed {_TIMEOUT_S:.0f}s after its deletion")
            time.sleep(0.5)

    @staticmethod
    def _outs(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": props["name"],
            "partitions": int(props["partitions"]),
            "replication_factor": int(props["replication_factor"]),
            "config": _config(props),
            "bootstrap_servers": props["bootstrap_servers"],
            "allow_destructive": bool(props.get("allow_destructive")),
            **({"kafka": props["kafka"]} if props.get("kafka") else {}),
        }


class Topic(pulumi.dynamic.Resource, module="kafka", name="Topic"):
    """A Kafka topic on the cluster at ``bootstrap_servers``.

    A partition increase or a config change updates the topic in place (config keys no
    longer declared return to the broker's default). A rename, a partition decrease or a
    replication-factor change fails the preview with the reason, unless ``allow_destructive``
    is true, in which case the topic is deleted and recreated (its data is lost).
    ``pulumi refresh`` notices a deleted topic (recreated by the next ``up``) and declared
    config keys whose value changed on the broker (set back by the next ``up``).
    Use ``protect=True`` in the options for topics that must never be deleted.

    Outputs: the inputs, as the broker reports them after a refresh.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        name: pulumi.Output[str]
        partitions: pulumi.Output[int]
        replication_factor: pulumi.Output[int]
        config: pulumi.Output[dict[str, str]]
        bootstrap_servers: pulumi.Output[str]
        allow_destructive: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        partitions: pulumi.Input[int],
        replication_factor: pulumi.Input[int],
        bootstrap_servers: pulumi.Input[str],
        config: Optional[pulumi.Input[dict[str, str]]] = None,
        allow_destructive: pulumi.Input[bool] = False,
        kafka: Optional[pulumi.Input[dict[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param name: topic name, e.g. ``local.iris.requests``.
        :param partitions: partition count (may only grow without ``allow_destructive``).
        :param replication_factor: replicas per partition (1 on the single-node local broker).
        :param bootstrap_servers: ``host:port[,host:port]`` of the cluster; changing it is an
            update that only records the new address (connection detail, not identity).
        :param config: topic config to enforce, e.g. ``{"cleanup.policy": "compact"}``.
        :param allow_destructive: accept delete-and-recreate for changes Kafka cannot apply.
        :param kafka: how to reach and authenticate to the cluster, ``KafkaEndpoint.to_props()``
            (the password a Pulumi secret); unset, PLAINTEXT to ``bootstrap_servers``.
        """
        props = {
            "name": name,
            "partitions": partitions,
            "replication_factor": replication_factor,
            "bootstrap_servers": bootstrap_servers,
            "config": config or {},
            "allow_destructive": allow_destructive,
            "kafka": kafka,
        }
        super().__init__(TopicProvider(), resource_name, props, opts)
