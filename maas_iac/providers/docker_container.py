"""A Docker container: a model replica or a router.

Created, started and (when it has a health check) waited on until healthy; stopped with a
grace period on delete, so a draining server can finish in-flight requests.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Optional, TypedDict

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from maas_iac.clients.docker import pull_missing

from ._common import GONE, changed_keys, docker_client, docker_endpoint, docker_props, has_unknowns, plain

_RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
_REPLACE_ON = ("name", "image", "command", "env", "labels", "network", "aliases", "ports", "healthcheck")
_UPDATE_IN_PLACE = ("restart", "cpus", "memory_mb", "stop_grace_period_s", "healthy_timeout_s")
_CPU_PERIOD = 100_000


class PortMapping(TypedDict, total=False):
    """One published port."""

    internal: int
    """Container port."""
    external: int
    """Host port; 0 or absent lets Docker pick one (see the ``host_ports`` output)."""
    host_ip: str
    """Host address to bind; default ``127.0.0.1`` (never all interfaces unless asked)."""
    protocol: str
    """``tcp`` (default) or ``udp``."""


class HealthCheck(TypedDict, total=False):
    """Docker HEALTHCHECK settings."""

    test: list[str]
    """E.g. ``["CMD", "curl", "-fsS", "http://127.0.0.1:8501/v1/models/m"]`` or ``["CMD-SHELL", "..."]``."""
    interval_s: float
    """Seconds between checks (default 5)."""
    timeout_s: float
    """Seconds one check may take (default 3)."""
    retries: int
    """Consecutive failures before unhealthy (default 3)."""
    start_period_s: float
    """Grace period after start during which failures do not count (default 0)."""


def _ports(ports: Optional[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {
            "internal": int(p["internal"]),
            "external": int(p.get("external") or 0),
            "host_ip": p.get("host_ip") or "127.0.0.1",
            "protocol": p.get("protocol") or "tcp",
        }
        for p in ports or []
    ]


def _healthcheck(hc: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if not hc:
        return None
    return {
        "test": list(hc["test"]),
        "interval_s": float(hc.get("interval_s", 5)),
        "timeout_s": float(hc.get("timeout_s", 3)),
        "retries": int(hc.get("retries", 3)),
        "start_period_s": float(hc.get("start_period_s", 0)),
    }


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    """Inputs with defaults filled in, as stored in the outputs and compared by diff."""
    out = {k: plain(props.get(k)) for k in _REPLACE_ON + _UPDATE_IN_PLACE}
    out["env"] = {k: str(v) for k, v in (props.get("env") or {}).items()}
    out["labels"] = dict(props.get("labels") or {})
    out["aliases"] = list(props.get("aliases") or [])
    out["ports"] = _ports(props.get("ports"))
    out["healthcheck"] = _healthcheck(props.get("healthcheck"))
    out["name_prefix"] = props.get("name_prefix")
    out["auto_name"] = bool(props.get("auto_name"))
    out["docker"] = docker_props(props)
    return out


def _resources(props: dict[str, Any]) -> dict[str, Any]:
    """Host-config limits, in the form both create and update accept."""
    limits: dict[str, Any] = {}
    if props.get("cpus"):
        limits.update(cpu_period=_CPU_PERIOD, cpu_quota=int(float(props["cpus"]) * _CPU_PERIOD))
    if props.get("memory_mb"):
        # No swap on top: the limit is the limit.
        limits.update(mem_limit=f"{int(props['memory_mb'])}m", memswap_limit=f"{int(props['memory_mb'])}m")
    return limits


def _network(client: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Joins the network at creation, so the aliases resolve from the first health check on."""
    if not spec["network"]:
        return {}
    endpoint = client.api.create_endpoint_config(aliases=spec["aliases"] or None)
    return {"network": spec["network"], "networking_config": {spec["network"]: endpoint}}


def _restart_policy(name: str) -> dict[str, Any]:
    return {"Name": name, "MaximumRetryCount": 5} if name == "on-failure" else {"Name": name}


class ContainerProvider(ResourceProvider):
    """CRUD for a Docker container."""

    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        restart = news.get("restart")
        if isinstance(restart, str) and restart not in _RESTART_POLICIES:
            failures.append(pulumi.dynamic.CheckFailure(
                "restart", f"unknown restart policy {restart!r}; use one of {', '.join(_RESTART_POLICIES)}"))
        if not news.get("name"):
            # Auto-naming keeps the old name on updates; on a replacement the engine checks again
            # with no olds, so the new container gets a fresh name and can start before the old
            # one is removed (create-before-delete).
            prefix = news.get("name_prefix") or "maas"
            if olds.get("auto_name") and olds.get("name_prefix") == prefix and olds.get("name"):
                name = olds["name"]
            else:
                name = f"{prefix}-{secrets.token_hex(4)}"
            news = {**news, "name": name, "auto_name": True}
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        import docker.errors
        from docker.types import Healthcheck

        spec = _normalise(props)
        with docker_client(props) as client:
            pull_missing(client, docker_endpoint(props), spec["image"])
            hc = spec["healthcheck"]
            ports = {
                f"{p['internal']}/{p['protocol']}": (p["host_ip"], p["external"] or None)
                for p in spec["ports"]
            }
            container = client.containers.create(
                spec["image"],
                command=spec["command"],
                name=spec["name"],
                environment=spec["env"],
                labels=spec["labels"],
                ports=ports,
                healthcheck=Healthcheck(
                    test=hc["test"],
                    interval=int(hc["interval_s"] * 1e9),
                    timeout=int(hc["timeout_s"] * 1e9),
                    retries=hc["retries"],
                    start_period=int(hc["start_period_s"] * 1e9),
                ) if hc else None,
                restart_policy=_restart_policy(spec["restart"]),
                stop_signal="SIGTERM",
                **_network(client, spec),
                **_resources(spec),
            )
            try:
                container.start()
                _wait_ready(container, healthcheck=hc is not None, timeout_s=float(spec["healthy_timeout_s"]))
                container.reload()
            except BaseException:
                # A failed create leaves nothing in the state, so it must leave nothing in Docker.
                try:
                    container.remove(force=True)
                except docker.errors.APIError:
                    pass
                raise
            return CreateResult(container.id, {**spec, **_live(container)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors

        with docker_client(props) as client:
            try:
                container = client.containers.get(id_)
            except docker.errors.NotFound:
                return GONE
            return ReadResult(id_, {**props, **_live(container)})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        unknown = [k for k in _REPLACE_ON + _UPDATE_IN_PLACE if has_unknowns(news.get(k))]
        if unknown:
            # A preview with values not known yet (e.g. a new image digest): assume they change.
            replaces = [k for k in unknown if k in _REPLACE_ON]
            return DiffResult(changes=True, replaces=replaces,
                              delete_before_replace=bool(replaces) and _fixed(news))
        new = _normalise(news)
        replaces = changed_keys(olds, new, _REPLACE_ON)
        if docker_endpoint(olds).host != docker_endpoint(new).host:  # another engine, not another login
            replaces.append("docker")
        if olds.get("running") is False:
            # Found stopped by a refresh: bring it back as a fresh container.
            replaces.append("running")
        elif olds.get("health") == "unhealthy":
            # Found unhealthy by a refresh: its health check failed past its retries (a model
            # that stays unavailable), and Docker restarts only containers that exit. A fresh
            # container replaces it, and create waits until that one is healthy.
            replaces.append("health")
        updates = changed_keys(olds, new, _UPDATE_IN_PLACE)
        # Docker can change a limit in place but not remove one.
        replaces += [k for k in ("cpus", "memory_mb") if k in updates and not new.get(k)]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=bool(replaces) and _fixed(new),
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec = _normalise(news)
        with docker_client(news) as client:
            container = client.containers.get(id_)
            limits = _resources(spec)
            if spec["restart"] != olds.get("restart") or limits:
                container.update(restart_policy=_restart_policy(spec["restart"]), **limits)
            container.reload()
            return UpdateResult({**spec, **_live(container)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        with docker_client(props) as client:
            try:
                container = client.containers.get(id_)
            except docker.errors.NotFound:
                return
            # SIGTERM, then SIGKILL after the grace period (the server drains in between).
            container.stop(timeout=int(props.get("stop_grace_period_s") or 10))
            container.remove(v=True)


def _fixed(props: dict[str, Any]) -> bool:
    """A fixed name or a fixed host port cannot exist twice: the old container must go first."""
    ports = props.get("ports")
    fixed_port = not isinstance(ports, list) or any(
        not isinstance(p, dict) or p.get("external") for p in ports)
    return not props.get("auto_name") or fixed_port




def _live(container: Any) -> dict[str, Any]:
    """The observed state a refresh compares: running or not, health, image, bound host ports."""
    state = container.attrs["State"]
    bound = container.attrs["NetworkSettings"].get("Ports") or {}
    host_ports = [
        {"internal": int(key.split("/")[0]), "protocol": key.split("/")[1],
         "host_ip": b["HostIp"], "external": int(b["HostPort"])}
        for key, bindings in sorted(bound.items()) if bindings
        for b in bindings
    ]
    return {
        "container_id": container.id,
        "running": bool(state.get("Running")),
        "status": state.get("Status", ""),
        "health": (state.get("Health") or {}).get("Status", ""),
        "image_id": container.attrs["Image"],
        "host_ports": host_ports,
    }


def _wait_ready(container: Any, *, healthcheck: bool, timeout_s: float) -> None:
    """Returns once the container is healthy (or running, without a health check)."""
    deadline = time.monotonic() + timeout_s
    while True:
        container.reload()
        state = container.attrs["State"]
        if not state.get("Running"):
            logs = container.logs(tail=20).decode(errors="replace").strip()
            raise RuntimeError(
                f"container {container.name} exited with code {state.get('ExitCode')} right after "
                f"starting; last log lines:\n{logs}")
        health = (state.get("Health") or {}).get("Status")
        if not healthcheck or health == "healthy":
            return
        if health == "unhealthy" or time.monotonic() > deadline:
            probes = (state.get("Health") or {}).get("Log") or []
            last = probes[-1]["Output"].strip() if probes else "no probe has finished yet"
            raise RuntimeError(
                f"container {container.name} is {health or 'not healthy'} after "
                f"{timeout_s:.0f}s (healthy_timeout_s); last health probe output: {last}")
        time.sleep(0.5)


class Container(pulumi.dynamic.Resource, module="docker", name="Container"):
    """A container on the Docker engine ``docker`` names.

    Changes to ``restart``, ``cpus``, ``memory_mb``, ``stop_grace_period_s`` and
    ``healthy_timeout_s`` update it in place; any other change replaces it. Replacement is
    create-before-delete when the name is generated (``name`` unset) and no fixed host port
    is published, otherwise delete-before-replace. ``pulumi refresh`` notices a container that
    is gone (recreated by the next ``up``), not running or ``unhealthy`` (both replaced by the
    next ``up``, so ``pulumi preview --refresh`` shows them as drift).

    Outputs: every input (defaults filled in), plus ``container_id``, ``running``, ``status``,
    ``health``, ``image_id`` and ``host_ports`` (the bound ports as ``PortMapping`` dicts).
    Pass secrets in ``env`` as ``pulumi.Output.secret(...)``: the ``env`` output stays secret.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        name: pulumi.Output[str]
        image: pulumi.Output[str]
        container_id: pulumi.Output[str]
        running: pulumi.Output[bool]
        status: pulumi.Output[str]
        health: pulumi.Output[str]
        image_id: pulumi.Output[str]
        host_ports: pulumi.Output[list[dict[str, Any]]]
        """The bound host ports, as PortMapping-shaped dicts (numbers come back as floats)."""

    def __init__(
        self,
        resource_name: str,
        *,
        image: pulumi.Input[str],
        name: Optional[pulumi.Input[str]] = None,
        name_prefix: Optional[pulumi.Input[str]] = None,
        command: Optional[pulumi.Input[list[str]]] = None,
        env: Optional[pulumi.Input[dict[str, str]]] = None,
        labels: Optional[pulumi.Input[dict[str, str]]] = None,
        network: Optional[pulumi.Input[str]] = None,
        aliases: Optional[pulumi.Input[list[str]]] = None,
        ports: Optional[pulumi.Input[list[PortMapping]]] = None,
        healthcheck: Optional[pulumi.Input[HealthCheck]] = None,
        restart: pulumi.Input[str] = "unless-stopped",
        cpus: Optional[pulumi.Input[float]] = None,
        memory_mb: Optional[pulumi.Input[int]] = None,
        stop_grace_period_s: pulumi.Input[int] = 10,
        healthy_timeout_s: pulumi.Input[int] = 120,
        docker: Optional[pulumi.Input[dict[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param image: image reference; pulled when not present locally (a repo digest
            ``registry/repo@sha256:...`` pins exactly what runs).
        :param name: container name; unset → ``<name_prefix>-<8 hex>``, kept across updates and
            regenerated on replacement.
        :param name_prefix: prefix of the generated name (default ``maas``).
        :param command: arguments replacing the image's CMD.
        :param env: environment variables.
        :param labels: Docker labels.
        :param network: name of the network to join (instead of the default bridge).
        :param aliases: DNS aliases on that network (replicas share one).
        :param ports: ports to publish on the host.
        :param healthcheck: health check; when set, create waits until healthy.
        :param restart: ``no``, ``always``, ``on-failure`` or ``unless-stopped``.
        :param cpus: CPU limit in cores (e.g. 0.5).
        :param memory_mb: memory limit in MiB (no swap beyond it).
        :param stop_grace_period_s: seconds between SIGTERM and SIGKILL on delete.
        :param healthy_timeout_s: how long create waits for ``healthy`` before failing (and
            removing the container).
        :param docker: the engine, ``DockerEndpoint.to_props()``; unset, the local socket.
            Another engine replaces the container.
        """
        props = {
            "image": image,
            "name": name,
            "name_prefix": name_prefix,
            "auto_name": None,
            "command": command,
            "env": env or {},
            "labels": labels or {},
            "network": network,
            "aliases": aliases or [],
            "ports": ports or [],
            "healthcheck": healthcheck,
            "restart": restart,
            "cpus": cpus,
            "memory_mb": memory_mb,
            "stop_grace_period_s": stop_grace_period_s,
            "healthy_timeout_s": healthy_timeout_s,
            "container_id": None,
            "running": None,
            "status": None,
            "health": None,
            "image_id": None,
            "host_ports": None,
            "docker": docker,
        }
        super().__init__(ContainerProvider(), resource_name, props, opts)
