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

__all__ = ["Connections", "DockerEndpoint", "DockerTlsFiles", "KafkaEndpoint", "KubernetesEndpoint", "LOCAL_DOCKER_HOST",
           "RegistryEndpoint"]

LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock"
"""The engine of resources recorded before the Docker host was an input (they all ran there)."""


def _secret(value: Any) -> Any:
    """``value`` as a Pulumi secret: an Output the program already holds as one stays as it is."""
    import pulumi

    return value if isinstance(value, pulumi.Output) else pulumi.Output.secret(value)


@dataclass(frozen=True)
class RegistryEndpoint:
    """A container registry, ``host[:port]``, and how to log in to it.

    Plain HTTP on the loopback when it has neither a CA nor a login, HTTPS otherwise.
    """

    address: str
    username: Optional[str] = None
    password: Any = None
    """The password: a plain string in the provider process, a ``pulumi.Output`` secret (or the
    plaintext the program read, wrapped by :meth:`to_props`) in the program."""
    ca_file: Optional[str] = None
    """PEM file of the CA that signed the registry's certificate (``~`` expanded)."""
    credential_helper: Optional[str] = None
    """``<name>`` of a ``docker-credential-<name>`` program that holds the login instead."""

    def __repr__(self) -> str:
        return (f"RegistryEndpoint(address={self.address!r}, username={self.username!r}, "
                f"ca_file={self.ca_file!r}, credential_helper={self.credential_helper!r})")

    @property
    def has_login(self) -> bool:
        return bool(self.username or self.credential_helper)

    def to_props(self) -> dict[str, Any]:
        """The props form; the password becomes a Pulumi secret."""
        props: dict[str, Any] = {"address": self.address}
        for key in ("username", "ca_file", "credential_helper"):
            if getattr(self, key):
                props[key] = getattr(self, key)
        if self.password is not None:
            props["password"] = _secret(self.password)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any] | str) -> RegistryEndpoint:
        """From the props form, or from the bare address of state recorded before logins."""
        if isinstance(props, str):
            return cls(address=props)
        return cls(address=str(props["address"]), username=props.get("username"), password=props.get("password"),
                   ca_file=props.get("ca_file"), credential_helper=props.get("credential_helper"))


@dataclass(frozen=True)
class DockerTlsFiles:
    """The TLS of a ``tcp://`` engine: each part a file path or its PEM text."""

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    ca: Optional[str] = None
    cert: Optional[str] = None
    key: Any = None
    """The client key's PEM text: plain in the provider process, a secret in the program."""

    def __repr__(self) -> str:
        return f"DockerTlsFiles(ca_file={self.ca_file!r}, cert_file={self.cert_file!r}, key_file={self.key_file!r})"

    def to_props(self) -> dict[str, Any]:
        props = {k: getattr(self, k) for k in ("ca_file", "cert_file", "key_file", "ca", "cert") if getattr(self, k)}
        if self.key is not None:
            props["key"] = _secret(self.key)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> DockerTlsFiles:
        return cls(**{k: props.get(k) for k in ("ca_file", "cert_file", "key_file", "ca", "cert", "key")})


@dataclass(frozen=True)
class DockerEndpoint:
    """A Docker engine, ``unix://``, ``tcp://`` (with TLS) or ``ssh://user@host``, and the
    registry login it pulls and pushes with (as ``docker login`` would give it)."""

    host: str = LOCAL_DOCKER_HOST
    registry: Optional[RegistryEndpoint] = None
    """The stack's registry, when it has a login or a CA of its own."""
    tls: Optional[DockerTlsFiles] = None
    """The client certificate and CA of a ``tcp://`` host."""

    def to_props(self) -> dict[str, Any]:
        props: dict[str, Any] = {"host": self.host}
        if self.registry is not None and (self.registry.has_login or self.registry.ca_file):
            props["registry"] = self.registry.to_props()
        if self.tls is not None:
            props["tls"] = self.tls.to_props()
        return props

    @classmethod
    def from_props(cls, props: Optional[Mapping[str, Any]]) -> DockerEndpoint:
        """The endpoint of a resource's inputs; the local engine for state that predates them."""
        if not props or not props.get("host"):
            return cls()
        registry, tls = props.get("registry"), props.get("tls")
        return cls(host=str(props["host"]), registry=RegistryEndpoint.from_props(registry) if registry else None,
                   tls=DockerTlsFiles.from_props(tls) if tls else None)

    def registry_for(self, image: str) -> Optional[RegistryEndpoint]:
        """The login for pulling ``image`` (``host[:port]/repo…``), when it lives in that registry."""
        if self.registry is not None and image.startswith(self.registry.address + "/"):
            return self.registry
        return None


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
        props: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        for key in ("sasl_mechanism", "sasl_username", "ca_location"):
            if getattr(self, key):
                props[key] = getattr(self, key)
        if self.sasl_password is not None:
            props["sasl_password"] = _secret(self.sasl_password)
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
class KubernetesEndpoint:
    """A Kubernetes cluster: the kubeconfig file that reaches it, its context and the stack's
    namespace. The file stays on this machine; only its path is an input."""

    kubeconfig: str
    """Absolute path of the kubeconfig file."""
    namespace: str
    context: Optional[str] = None
    """The kubeconfig context; None: the file's current-context."""


@dataclass(frozen=True)
class Connections:
    """Everything a stack's resources and the CLI need to reach its services."""

    docker: DockerEndpoint
    registry: RegistryEndpoint
    kafka: KafkaEndpoint
    kubernetes: Optional[KubernetesEndpoint] = None
    """The cluster that runs the stack's workloads, on a stack whose engine is kubernetes."""

    @classmethod
    def from_stack(cls, stack: Any) -> Connections:
        """From a :class:`maas_iac.spec.StackConfig` (the password as the config holds it)."""
        k = stack.kafka
        password = k.sasl_password.plaintext if k.sasl_password is not None else None
        auth = stack.registry_auth
        registry = RegistryEndpoint(
            address=stack.registry, username=auth.username, ca_file=auth.ca_file,
            password=auth.password.plaintext if auth.password is not None else None,
            credential_helper=auth.credential_helper)
        t = stack.docker_tls
        tls = None if t is None else DockerTlsFiles(
            ca_file=t.ca_file, cert_file=t.cert_file, key_file=t.key_file, ca=t.ca, cert=t.cert,
            key=t.key.plaintext if t.key is not None else None)
        cluster = stack.kubernetes
        return cls(
            kubernetes=None if cluster is None else KubernetesEndpoint(
                kubeconfig=os.path.expanduser(cluster.kubeconfig), context=cluster.context, namespace=cluster.namespace),
            docker=DockerEndpoint(host=stack.docker_host, registry=registry, tls=tls),
            registry=registry,
            kafka=KafkaEndpoint(bootstrap_servers=tuple(k.bootstrap_servers), security_protocol=k.security_protocol,
                                sasl_mechanism=k.sasl_mechanism, sasl_username=k.sasl_username,
                                sasl_password=password, ca_location=k.ca_file),
        )
