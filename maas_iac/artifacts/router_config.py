"""The HAProxy configuration of a model's router.

The router publishes the model's REST and gRPC (h2c) ports and balances over its replicas,
which it finds through Docker's embedded DNS under one network alias (on Kubernetes, the cluster
DNS under the replicas' headless Service, which lists Ready pods only). The settings below are
the ones that dropped no request while replicas were replaced (see the design notes on the
router): 1 s re-resolution, slots for old and new replicas at once, passive mark-down on the
first connection error, retries on another replica, and a health check that passes only while
the model reports a version AVAILABLE (a draining replica fails it first).

Retries cover connection failures, empty responses and 503s only, never every 5xx or a response
timeout: a slow inference must not run twice.

Only inference and status calls pass; the model server's admin surface stays on the replicas'
network. gRPC: ``PredictionService`` (Predict, Classify, Regress, MultiInference,
GetModelMetadata) and ``ModelService/GetModelStatus``; every other method (a config reload, the
profiler, any unknown service) gets a trailers-only ``PERMISSION_DENIED`` from the router
itself. REST: ``POST /v1/models/<model>[/versions/N|/labels/L]:{predict,classify,regress}``
and ``GET`` of the same model's status and ``/metadata``; anything else is ``403``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maas_dataplane.contract import GRPC_PORT, REST_PORT

__all__ = ["GRPC_ALLOWED", "RouterConfig", "render_router_config"]

GRPC_ALLOWED = (
    "/tensorflow.serving.PredictionService/Predict",
    "/tensorflow.serving.PredictionService/Classify",
    "/tensorflow.serving.PredictionService/Regress",
    "/tensorflow.serving.PredictionService/MultiInference",
    "/tensorflow.serving.PredictionService/GetModelMetadata",
    "/tensorflow.serving.ModelService/GetModelStatus",
)
"""The gRPC methods the router forwards; every other path is refused at the router."""

GRPC_PERMISSION_DENIED = 7
DENIED_MESSAGE = "not served through the router"

_NAMESERVERS = {"docker": "nameserver dns1 127.0.0.11:53", "cluster": "parse-resolv-conf"}

_MODEL_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")

@dataclass(frozen=True)
class RouterConfig:
    """What a model's router needs to know."""

    model_name: str
    replica_alias: str
    """The network alias all of the model's replicas share."""
    slots: int
    """Servers the template reserves: room for old and new replicas during a rollout."""
    server_timeout_s: int = 30
    resolver: str = "docker"
    """Who answers for ``replica_alias``: ``docker`` (the engine's embedded DNS, 127.0.0.11) or
    ``cluster`` (the nameservers of the pod's resolv.conf, the cluster DNS)."""

    def __post_init__(self) -> None:
        # The name goes into the configuration's path patterns: only a DNS label may.
        if not _MODEL_NAME.fullmatch(self.model_name):
            raise ValueError(f"model name {self.model_name!r} is not a DNS label")
        if self.resolver not in _NAMESERVERS:
            raise ValueError(f"resolver {self.resolver!r} is not one of {', '.join(_NAMESERVERS)}")


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
    # A path the model server routes (its patterns are TF Serving's, case-insensitive), for
    # this model only: an optional version or label, then the verb or /metadata.
    selector = r"(/versions/[0-9]+|/labels/[^/:]+)?"
    rest_filter = (
        f"    acl rest_infer path_reg -i ^/v1/models/{cfg.model_name}{selector}:(predict|classify|regress)$\n"
        f"    acl rest_status path_reg -i ^/v1/models/{cfg.model_name}{selector}(/metadata)?$\n"
        "    http-request return status 403 content-type application/json "
        f"string '{{\"error\": \"{DENIED_MESSAGE}\"}}' "
        "unless METH_POST rest_infer || METH_GET rest_status\n"
    )
    grpc_filter = (
        f"    acl grpc_allowed path {' '.join(GRPC_ALLOWED)}\n"
        "    http-request set-var(txn.refused) bool(true) unless METH_POST grpc_allowed\n"
        # Trailers-only: one HEADERS frame with END_STREAM carrying the status, as a gRPC server
        # answers a call it refuses, so the client sees PERMISSION_DENIED, not a transport error.
        # HAProxy 2.6 drops a content type from a reply without a body, hence the after-response
        # rule (it covers the router's own replies too).
        "    http-request return status 200 "
        f"hdr grpc-status {GRPC_PERMISSION_DENIED} hdr grpc-message \"{DENIED_MESSAGE}\" "
        "if { var(txn.refused) -m bool }\n"
        "    http-after-response set-header content-type application/grpc if { var(txn.refused) -m bool }\n"
    )
    server = (
        "check inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 "
        f"resolvers {cfg.resolver} resolve-prefer ipv4"
    )
    return f"""global
    log stdout format raw local0 info
    maxconn 4096

resolvers {cfg.resolver}
    {_NAMESERVERS[cfg.resolver]}
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
{rest_filter}    default_backend replicas_rest

frontend grpc
    bind :{GRPC_PORT} proto h2
{grpc_filter}    default_backend replicas_grpc

backend replicas_rest
{health}    server-template r {cfg.slots} {cfg.replica_alias}:{REST_PORT} {server}

backend replicas_grpc
{health}    server-template r {cfg.slots} {cfg.replica_alias}:{GRPC_PORT} proto h2 {server}
"""
