"""The stack's connection settings, as one frozen value.

Each endpoint has a props form (a plain mapping) in which it travels as a resource input to
the dynamic providers' process, where ``from_props`` rebuilds it. Secret fields are Pulumi
secrets in the props form, so the engine keeps them encrypted in the state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Connections", "DockerEndpoint", "KafkaEndpoint", "LOCAL_DOCKER_HOST", "RegistryEndpoint"]

LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock"
"""The engine of resources recorded before the Docker host was an input (they all ran there)."""


@dataclass(frozen=True)
class DockerEndpoint:
    """A Docker engine: ``unix://``, ``tcp://`` or ``ssh://user@host``."""

    host: str = LOCAL_DOCKER_HOST

    def to_props(self) -> dict[str, Any]:
        return {"host": self.host}

    @classmethod
    def from_props(cls, props: Optional[Mapping[str, Any]]) -> DockerEndpoint:
        """The endpoint of a resource's inputs; the local engine for state that predates them."""
        if not props or not props.get("host"):
            return cls()
        return cls(host=str(props["host"]))


@dataclass(frozen=True)
class RegistryEndpoint:
    """A container registry, ``host[:port]``: plain HTTP on the loopback, HTTPS elsewhere."""

    address: str

    def to_props(self) -> dict[str, Any]:
        return {"address": self.address}

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RegistryEndpoint:
        return cls(address=str(props["address"]))


@dataclass(frozen=True)
class KafkaEndpoint:
    """A Kafka cluster and how to authenticate to it."""

    bootstrap_servers: tuple[str, ...]
    security_protocol: str = "PLAINTEXT"
    """``PLAINTEXT`` or ``SASL_SSL``."""
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Any = None
    """The password: a plain string in the provider process, a ``pulumi.Output`` secret (or the
    plaintext the program read, wrapped by :meth:`to_props`) in the program."""
    ca_location: Optional[str] = None
    """CA bundle (PEM file) the brokers' certificates are checked against."""

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings for a client of this cluster (holds the password: keep in memory)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap}
        if self.security_protocol != "PLAINTEXT":
            config["security.protocol"] = self.security_protocol
            if self.sasl_mechanism:
                config["sasl.mechanism"] = self.sasl_mechanism
                config["sasl.username"] = self.sasl_username or ""
                config["sasl.password"] = self.sasl_password or ""
            if self.ca_location:
                config["ssl.ca.location"] = os.path.expanduser(self.ca_location)
        return config

    def to_props(self) -> dict[str, Any]:
        """The props form; the password becomes a Pulumi secret."""
        import pulumi

        props: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        for key in ("sasl_mechanism", "sasl_username", "ca_location"):
            if getattr(self, key):
                props[key] = getattr(self, key)
        if self.sasl_password is not None:
            password = self.sasl_password
            props["sasl_password"] = password if isinstance(password, pulumi.Output) else pulumi.Output.secret(password)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> KafkaEndpoint:
        return cls(
            bootstrap_servers=tuple(s.strip() for s in str(props["bootstrap_servers"]).split(",") if s.strip()),
            security_protocol=str(props.get("security_protocol") or "PLAINTEXT"),
            sasl_mechanism=props.get("sasl_mechanism"),
            sasl_username=props.get("sasl_username"),
            sasl_password=props.get("sasl_password"),
            ca_location=props.get("ca_location"),
        )


@dataclass(frozen=True)
class Connections:
    """Everything a stack's resources and the CLI need to reach its services."""

    docker: DockerEndpoint
    registry: RegistryEndpoint
    kafka: KafkaEndpoint

    @classmethod
    def from_stack(cls, stack: Any) -> Connections:
        """From a :class:`maas_iac.spec.StackConfig` (the password as the config holds it)."""
        k = stack.kafka
        password = k.sasl_password.plaintext if k.sasl_password is not None else None
        return cls(
            docker=DockerEndpoint(host=stack.docker_host),
            registry=RegistryEndpoint(address=stack.registry),
            kafka=KafkaEndpoint(bootstrap_servers=tuple(k.bootstrap_servers), security_protocol=k.security_protocol,
                                sasl_mechanism=k.sasl_mechanism, sasl_username=k.sasl_username,
                                sasl_password=password, ca_location=k.ca_file),
        )
