"""The HAProxy configuration of a model's router.

The router publishes the model's REST and gRPC (h2c) ports and balances over its replicas,
which it finds through Docker's embedded DNS under one network alias. The settings below are
the ones that dropped no request while replicas were replaced (see the design notes on the
router): 1 s re-resolution, slots for old and new replicas at once, passive mark-down on the
first connection error, retries on another replica, and a health check that passes only while
the model reports a version AVAILABLE (a draining replica fails it first).

Retries cover connection failures, empty responses and 503s only, never every 5xx or a response
timeout: a slow inference must not run twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from maas_dataplane.contract import GRPC_PORT, REST_PORT

__all__ = ["RouterConfig", "render_router_config"]



@dataclass(frozen=True)
class RouterConfig:
    """What a model's router needs to know."""

    model_name: str
    replica_alias: str
    """The network alias all of the model's replicas share."""
    slots: int
    """Servers the template reserves: room for old and new replicas during a rollout."""
    server_timeout_s: int = 30


def render_router_config(cfg: RouterConfig) -> str:
    """Render ``haproxy.cfg`` for one model's router."""
    # Both backends check the REST status endpoint with an explicit `http-check connect`: the
    # gRPC servers' older form (`check-proto h1 port 8501` on an h2 server-template line) made
    # HAProxy 2.6 stop checking a server after one socket error, so replicas that joined during
    # a rollout stayed DOWN for gRPC while REST served them.
    health = (
        "    option httpchk\n"
        f"    http-check connect port {REST_PORT} proto h1\n"
        f"    http-check send meth GET uri /v1/models/{cfg.model_name}\n"
        "    http-check expect string AVAILABLE\n"
        "    default-server observe layer4 error-limit 1 on-error mark-down\n"
    )
    server = (
        "check inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 "
        "resolvers docker resolve-prefer ipv4"
    )
    return f"""global
    log stdout format raw local0 info
    maxconn 4096

resolvers docker
    nameserver dns1 127.0.0.11:53
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold obsolete 0s
    hold nx 1s

defaults
    log global
    mode http
    timeout connect 250ms
    timeout check 250ms
    timeout client 60s
    timeout server {cfg.server_timeout_s}s
    retries 10
    option redispatch 1
    retry-on conn-failure empty-response 503
    default-server init-addr none

frontend rest
    bind :{REST_PORT}
    default_backend replicas_rest

frontend grpc
    bind :{GRPC_PORT} proto h2
    default_backend replicas_grpc

backend replicas_rest
{health}    server-template r {cfg.slots} {cfg.replica_alias}:{REST_PORT} {server}

backend replicas_grpc
{health}    server-template r {cfg.slots} {cfg.replica_alias}:{GRPC_PORT} proto h2 {server}
"""
