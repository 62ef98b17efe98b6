"""Router: one HAProxy container per model publishing its REST and gRPC ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pulumi

from maas_iac import type_tokens
from maas_dataplane.contract import GRPC_PORT, REST_PORT
from maas_iac.artifacts.router_config import RouterConfig, render_router_config
from maas_iac.providers import Container

__all__ = ["Router", "RouterArgs", "endpoint_host", "router_slots"]

ROUTER_CONFIG_ENV = "HAPROXY_CONFIG"
"""The router's haproxy.cfg travels in this variable, so it works on a remote Docker host too
(no bind-mounted file) and with the official haproxy image as well as the local one."""

# A constant script: the configuration reaches it as data in the environment, never as code.
ROUTER_COMMAND = [
    "/bin/sh", "-c",
    'printf "%s" "$HAPROXY_CONFIG" > /tmp/haproxy.cfg && exec haproxy -W -db -f /tmp/haproxy.cfg',
]


def router_slots(replicas: int) -> int:
    """Server slots for old and new replicas at once, in steps of 8 so that scaling rarely
    changes the router (a changed router is replaced, which drops connections)."""
    return max(8, -(-(2 * replicas + 2) // 8) * 8)


def endpoint_host(bind_address: str) -> str:
    """The host a client names for ports published on ``bind_address``."""
    return bind_address if bind_address not in ("0.0.0.0", "::") else "localhost"


@dataclass(frozen=True)
class RouterArgs:
    """Inputs of a :class:`Router`."""

    model_name: str
    image: str
    network: pulumi.Input[str]
    replica_alias: str
    replicas: int
    bind_address: str
    """Host address the ports are published on: 127.0.0.1 on the local stack."""
    rest_port: int
    grpc_port: int
    labels: dict[str, str]
    name: str
    """Container name (fixed: the router owns fixed host ports)."""
    docker: Optional[dict[str, Any]] = None
    """The engine, ``DockerEndpoint.to_props()``; None: the local socket."""


class Router(pulumi.ComponentResource):
    """The model's front door: REST on ``rest_port``, gRPC (h2c) on ``grpc_port``."""

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        rest_endpoint: pulumi.Output[str]
        grpc_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: RouterArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(type_tokens.ROUTER, name, None, opts)
        config = render_router_config(RouterConfig(
            model_name=args.model_name, replica_alias=args.replica_alias, slots=router_slots(args.replicas)))
        self.container = Container(
            f"{name}-haproxy",
            image=args.image,
            name=args.name,
            command=ROUTER_COMMAND,
            env={ROUTER_CONFIG_ENV: config},
            labels=args.labels,
            network=args.network,
            ports=[
                {"internal": REST_PORT, "external": args.rest_port, "host_ip": args.bind_address},
                {"internal": GRPC_PORT, "external": args.grpc_port, "host_ip": args.bind_address},
            ],
            restart="unless-stopped",
            stop_grace_period_s=5,
            docker=args.docker,
            opts=pulumi.ResourceOptions(parent=self),
        )
        host = endpoint_host(args.bind_address)
        self.rest_endpoint = pulumi.Output.from_input(f"http://{host}:{args.rest_port}/v1/models/{args.model_name}")
        self.grpc_endpoint = pulumi.Output.from_input(f"{host}:{args.grpc_port}")
        self.register_outputs({"rest_endpoint": self.rest_endpoint, "grpc_endpoint": self.grpc_endpoint})
