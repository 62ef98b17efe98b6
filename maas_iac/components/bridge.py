"""Bridge: N containers answering a model's Kafka requests topic through its router, exactly once.

Each container runs the serving image's interpreter with ``-m maas_dataplane.bridge`` (see
``maas_dataplane/bridge``): a consumer in the group ``<stack>.<model>.bridge`` and a
transactional producer with the stable ``transactional.id`` ``<stack>.<model>.bridge-<i>``, so
container ``i``'s replacement fences it, and Kafka gives each partition of the requests topic to
one container at a time (more containers than partitions would idle: the spec refuses that).

Everything reaches the bridge through its environment (``MAAS_BRIDGE_*``, see
``maas_dataplane/bridge/config.py``); the SASL password is a Pulumi secret env value, never an
argument. The containers have no published ports and no health check of their own: a bridge
that cannot reach Kafka or the router retries, and Docker restarts one that exits.

With a principal of its own (the spec's ``topics.access.bridge``), each container is created
only after that principal's ACLs and SCRAM credential, so a fresh stack's bridge is authorised
from its first connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import pulumi

from maas_dataplane.contract import GRPC_PORT, PYTHON
from maas_iac import type_tokens
from maas_iac.providers import Container

__all__ = ["BRIDGE_COMMAND", "Bridge", "BridgeArgs", "PASSWORD_ENV", "bridge_env", "bridge_placement",
           "loopback_broker"]

BRIDGE_COMMAND = [PYTHON, "-m", "maas_dataplane.bridge"]
"""The container command: the image's entrypoint runs an absolute-path command as is."""
HOST_NETWORK = "host"
PASSWORD_ENV = "MAAS_BRIDGE_SASL_PASSWORD"


def _loopback(server: str) -> bool:
    host = server.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_broker(bootstrap_servers: str) -> bool:
    """Whether every broker is given by a loopback address (the ``local`` stack's
    ``127.0.0.1:9092``): reachable from the host's network namespace only."""
    return all(_loopback(s) for s in bootstrap_servers.split(",") if s.strip())


def bridge_placement(bootstrap_servers: str, network: pulumi.Input[str], router_name: str,
                     bind_address: str, router_grpc_port: int) -> tuple[pulumi.Input[str], str]:
    """``(network, grpc_target)`` for the bridge containers.

    On the stack network the router is ``<router_name>:8500``. A broker that advertises a
    loopback address (the ``local`` stack's ``127.0.0.1:9092``) is reachable from the host's
    network namespace only, so there the bridge joins the host network and calls the router
    on the port it publishes there."""
    if loopback_broker(bootstrap_servers):
        host = "127.0.0.1" if bind_address in ("0.0.0.0", "::", "") else bind_address
        return HOST_NETWORK, f"{host}:{router_grpc_port}"
    return network, f"{router_name}:{GRPC_PORT}"


@dataclass(frozen=True)
class BridgeArgs:
    """Inputs of :class:`Bridge`."""

    stack: str
    model_name: str
    image: pulumi.Input[str]
    """The serving image (by repo digest): the model's own image holds the bridge too."""
    consumers: int
    network: pulumi.Input[str]
    grpc_target: str
    """The model's router, ``host:port`` as the bridge sees it (:func:`bridge_placement`)."""
    bootstrap_servers: str
    requests_topic: pulumi.Input[str]
    predictions_topic: pulumi.Input[str]
    errors_topic: pulumi.Input[str]
    labels: dict[str, str]
    """``maas.stack``, ``maas.model`` (and e.g. ``maas.digest``); ``maas.role=bridge`` is added."""
    name_prefix: str
    git_sha: str = ""
    digest: str = ""
    max_batch_size: int = 64
    linger_ms: int = 5
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[pulumi.Input[str]] = None
    """Becomes a Pulumi secret env value (``MAAS_BRIDGE_SASL_PASSWORD``)."""
    credential: Optional[pulumi.Resource] = None
    """The SCRAM credential of ``sasl_username`` when it is the bridge's own principal (one of
    the stack's ``kafkaUsers``): the containers are created after it."""
    env: dict[str, str] = field(default_factory=dict)
    cpus: Optional[float] = None
    memory_mb: Optional[int] = None
    stop_grace_period_s: int = 20
    """SIGTERM lets the bridge finish (commit or drop) the batch in hand."""
    ca_pem: Optional[str] = None
    """The brokers' CA certificate (PEM text), with SASL_SSL (librdkafka ``ssl.ca.pem``)."""
    docker: Optional[dict] = None
    """The engine, ``DockerEndpoint.to_props()``; None: the local socket."""


def bridge_env(args: BridgeArgs, ordinal: int) -> dict[str, pulumi.Input[str]]:
    """Instance ``ordinal``'s environment; the password, if any, a Pulumi secret under
    :data:`PASSWORD_ENV`."""
    env: dict[str, pulumi.Input[str]] = {
        **args.env,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MAAS_BRIDGE_BOOTSTRAP_SERVERS": args.bootstrap_servers,
        "MAAS_BRIDGE_STACK": args.stack,
        "MAAS_BRIDGE_MODEL": args.model_name,
        "MAAS_BRIDGE_GRPC_TARGET": args.grpc_target,
        "MAAS_BRIDGE_REQUESTS_TOPIC": args.requests_topic,
        "MAAS_BRIDGE_PREDICTIONS_TOPIC": args.predictions_topic,
        "MAAS_BRIDGE_ERRORS_TOPIC": args.errors_topic,
        "MAAS_BRIDGE_ORDINAL": str(ordinal),
        "MAAS_BRIDGE_GIT_SHA": args.git_sha,
        "MAAS_BRIDGE_DIGEST": args.digest,
        "MAAS_BRIDGE_MAX_BATCH_SIZE": str(args.max_batch_size),
        "MAAS_BRIDGE_LINGER_MS": str(args.linger_ms),
        "MAAS_BRIDGE_KAFKA_SECURITY_PROTOCOL": args.security_protocol,
    }
    if args.sasl_mechanism:
        env["MAAS_BRIDGE_KAFKA_SASL_MECHANISM"] = args.sasl_mechanism
    if args.sasl_username:
        env["MAAS_BRIDGE_KAFKA_SASL_USERNAME"] = args.sasl_username
    if args.ca_pem:
        env["MAAS_BRIDGE_KAFKA_SSL_CA_PEM"] = args.ca_pem
    if args.sasl_password is not None:
        env[PASSWORD_ENV] = pulumi.Output.secret(args.sasl_password)
    return env


class Bridge(pulumi.ComponentResource):
    """``consumers`` bridge containers ``<name>-<i>``, each with its own stable identity."""

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        container_ids: pulumi.Output[list[str]]
        names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: BridgeArgs, opts: Optional[pulumi.ResourceOptions] = None, *,
                 acls: Sequence[pulumi.Resource] = ()) -> None:
        """``acls``: the ACL resources of the bridge's own principal, which each container waits
        for (with ``args.credential``)."""
        super().__init__(type_tokens.BRIDGE, name, None, opts)
        labels = {**args.labels, "maas.role": "bridge"}
        ready = [*acls, *([args.credential] if args.credential is not None else [])]
        self.containers = [
            Container(
                f"{name}-{i}",
                image=args.image,
                name_prefix=args.name_prefix,
                command=BRIDGE_COMMAND,
                env=bridge_env(args, i),
                labels=labels,
                network=args.network,
                restart="unless-stopped",
                cpus=args.cpus,
                memory_mb=args.memory_mb,
                stop_grace_period_s=args.stop_grace_period_s,
                docker=args.docker,
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready or None),
            )
            for i in range(args.consumers)
        ]
        self.container_ids = pulumi.Output.all(*[c.container_id for c in self.containers])
        self.names = pulumi.Output.all(*[c.name for c in self.containers])
        self.register_outputs({"container_ids": self.container_ids, "names": self.names})
