"""ServingReplicas: N model-server containers behind one network alias, health-gated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import pulumi

from maas_iac import type_tokens
from maas_dataplane.probe import health_command
from maas_iac.providers import Container

__all__ = ["ReplicaSettings", "ServingReplicas", "ServingReplicasArgs"]


@dataclass(frozen=True)
class ReplicaSettings:
    """How a model's replicas run, from its spec on one stack (everything but the image)."""

    model_name: str
    replicas: int
    network: pulumi.Input[str]
    alias: str
    """Network alias the router resolves; shared by every replica of the model."""
    server_args: list[str]
    """Arguments after the serving image's entrypoint (models.config, batching, drain)."""
    labels: dict[str, str]
    """``maas.stack``, ``maas.model``, ``maas.digest`` and the spec's labels."""
    name_prefix: str
    env: dict[str, str] = field(default_factory=dict)
    cpus: Optional[float] = None
    memory_mb: Optional[int] = None
    health_interval_s: float = 2
    health_timeout_s: float = 2
    health_retries: int = 3
    health_start_period_s: float = 30
    drain_seconds: int = 5
    healthy_timeout_s: int = 300
    docker: Optional[dict[str, Any]] = None
    """The engine, ``DockerEndpoint.to_props()``; None: the local socket."""


@dataclass(frozen=True)
class ServingReplicasArgs:
    """Inputs of :class:`ServingReplicas`."""

    image: pulumi.Input[str]
    """Image by repo digest, so a container always runs exactly the pushed content."""
    settings: ReplicaSettings


class ServingReplicas(pulumi.ComponentResource):
    """The model's replicas: each waits until healthy before the rollout moves on.

    Container names are generated, so a new image replaces replicas create-before-delete: the
    new ones start and pass their health check before the old ones get SIGTERM, drain and go.
    Each container's stop grace period is longer than the model server's drain.

    The health check passes only while the model reports a version AVAILABLE; a replica that
    stays unhealthy is replaced by the next ``up`` after a refresh (see the Container provider).
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        container_ids: pulumi.Output[list[str]]
        names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ServingReplicasArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.SERVING_REPLICAS, name, None, opts)
        s = args.settings
        healthcheck = {
            # bash and its /dev/tcp only (no python3, curl or wget in the image); the model name
            # is an argument of a constant script.
            "test": health_command(s.model_name),
            "interval_s": s.health_interval_s,
            "timeout_s": s.health_timeout_s,
            "retries": s.health_retries,
            "start_period_s": s.health_start_period_s,
        }
        self.containers = [
            Container(
                f"{name}-{i}",
                image=args.image,
                name_prefix=s.name_prefix,
                command=s.server_args,
                env=s.env,
                labels=s.labels,
                network=s.network,
                aliases=[s.alias],
                healthcheck=healthcheck,
                restart="unless-stopped",
                cpus=s.cpus,
                memory_mb=s.memory_mb,
                stop_grace_period_s=s.drain_seconds + 10,
                healthy_timeout_s=s.healthy_timeout_s,
                docker=s.docker,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for i in range(s.replicas)
        ]
        self.container_ids = pulumi.Output.all(*[c.container_id for c in self.containers])
        self.names = pulumi.Output.all(*[c.name for c in self.containers])
        self.register_outputs({"container_ids": self.container_ids, "names": self.names})
