"""Per-stack configuration: the ``maas:`` keys of ``stacks/Pulumi.<stack>.yaml``.

A :class:`StackConfig` is built from a plain mapping, so the same code serves the Pulumi
program (which feeds it ``pulumi.Config("maas")`` values) and ``maas validate`` (which reads
the stack file directly, where secrets are still ciphertext). The shape is
``schemas/stackconfig.schema.json``.

Merge rule — the model spec is the default, the stack overrides only these knobs
(:func:`apply_stack_config`):

* ``replicas[<model>]`` replaces ``serving.replicas`` for that model;
* ``servingBaseImage`` is used where ``serving.baseImage`` is null (an explicit base image in
  the spec wins); with neither, :data:`DEFAULT_SERVING_BASE_IMAGE`;
* ``portOffset`` is added to ``serving.ports.rest`` and ``serving.ports.grpc``.

Everything else in the stack (registry, Docker host, Kafka, bind address, router image,
network, protect, allowed sources, the engine and its cluster) is stack-only and never appears
in a model spec.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maas_iac.errors import SpecProblem, StackConfigError
from maas_iac.spec import messages as M
from maas_iac.spec.jsonpath import render_path
from maas_iac.spec.model import FrozenMap, ModelServiceSpec, Ports
from maas_iac.spec.naming import events_topic
from maas_iac.spec.reader import DocPath, Document, read_file
from maas_iac.spec.schema import STACKCONFIG_SCHEMA, did_you_mean, schema_problems

__all__ = [
    "CONFIG_NAMESPACE",
    "DEFAULT_BIND_ADDRESS",
    "DEFAULT_ROUTER_IMAGE",
    "DEFAULT_SERVING_BASE_IMAGE",
    "STACK_CONFIG_KEYS",
    "DockerTls",
    "KafkaConfig",
    "KubernetesConfig",
    "Promotion",
    "RegistryAuth",
    "Secret",
    "StackConfig",
    "apply_stack_config",
    "check_stack_file",
    "check_stack_mapping",
    "load_stack_config",
    "stack_name_from_file",
]

CONFIG_NAMESPACE = "maas"
"""Pulumi config namespace of every stack key (``maas:registry``)."""
STACK_CONFIG_KEYS = (
    "registry",
    "registryAuth",
    "dockerHost",
    "dockerTls",
    "kafka",
    "bindAddress",
    "portOffset",
    "servingBaseImage",
    "routerImage",
    "replicas",
    "kafkaUsers",
    "protect",
    "network",
    "allowedSources",
    "promoted",
    "engine",
    "kubernetes",
)
"""Every key a stack may set, without the namespace."""
DEFAULT_SERVING_BASE_IMAGE = "tensorflow/serving:2.19.0"
"""Base image when neither the spec nor the stack names one."""
DEFAULT_ROUTER_IMAGE = "haproxy:2.6"
"""Router image when the stack names none."""
DEFAULT_BIND_ADDRESS = "127.0.0.1"
"""Address routers publish on when the stack names none: local only."""

_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.ya?ml$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_PULUMI_TOP_LEVEL = ("config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment")
_OBJECT_KEYS = ("kafka", "registryAuth", "dockerTls", "replicas", "kafkaUsers", "allowedSources", "promoted",
                "kubernetes")
_INT_KEYS = ("portOffset",)
_BOOL_KEYS = ("protect",)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret config value. ``repr`` never shows it.

    From a stack file only the Pulumi ``ciphertext`` is known (``maas validate`` checks its
    presence); from the Pulumi program, the decrypted ``plaintext``.
    """

    ciphertext: str | None = None
    """The ``secure:`` value of the stack file."""
    plaintext: str | None = field(default=None, repr=False)
    """The decrypted value, when the Pulumi program supplied it."""

    def reveal(self) -> str:
        """The plaintext; wrap it in ``pulumi.Output.secret`` before it reaches a resource."""
        if self.plaintext is None:
            raise StackConfigError(
                [SpecProblem(None, None, None, "$.kafka.saslPassword", M.STACK_SECRET_OPAQUE.format(key="saslPassword"))]
            )
        return self.plaintext


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """``maas:kafka``: how to reach the stack's Kafka cluster."""

    bootstrap_servers: tuple[str, ...]
    """``host:port`` entries."""
    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT or SASL_SSL."""
    sasl_mechanism: str | None = None
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with SASL_SSL."""
    sasl_username: str | None = None
    """SASL user with SASL_SSL."""
    sasl_password: Secret | None = None
    """SASL password with SASL_SSL."""
    ca_file: str | None = None
    """PEM file of the brokers' CA, with SASL_SSL (``~`` expanded by the clients)."""


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """``maas:registryAuth``: how to log in to the stack's registry (all unset: no login)."""

    username: str | None = None
    password: Secret | None = None
    """The user's password, with ``username``."""
    credential_helper: str | None = None
    """``docker-credential-<name>`` holds the login instead."""
    ca_file: str | None = None
    """PEM file of the registry's CA (``~`` expanded by the clients)."""


@dataclass(frozen=True, slots=True)
class DockerTls:
    """``maas:dockerTls``: the TLS of a ``tcp://`` Docker host; each part a file or PEM text."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: Secret | None = None
    """The client key's PEM text, a secret."""


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    """``maas:kubernetes``: the cluster of a stack whose ``maas:engine`` is ``kubernetes``."""

    kubeconfig: str
    """The kubeconfig file (``~`` expanded by the provider's caller)."""
    namespace: str
    """The namespace the stack owns (``maas-<stack>`` unless the stack names one)."""
    context: str | None = None
    """The kubeconfig context; ``None`` means its current-context."""


@dataclass(frozen=True, slots=True)
class Promotion:
    """One ``maas:promoted`` entry: the image a model is pinned to on this stack."""

    from_stack: str
    """The stack it was promoted from."""
    image: str
    """Manifest digest, ``sha256:…``: what the replicas run."""
    tag: str
    """The image's tag (``md-…``, from the source stack: its base image pin may differ here)."""
    git_sha: str
    """The commit the image was built from."""
    digest: str
    """The model content digest."""
    versions: tuple[int, ...]
    """The versions the image serves."""

    def to_config(self) -> dict[str, Any]:
        """The entry as the stack file holds it."""
        return {"fromStack": self.from_stack, "image": self.image, "tag": self.tag, "gitSha": self.git_sha,
                "digest": self.digest, "versions": list(self.versions)}


@dataclass(frozen=True, slots=True)
class StackConfig:
    """The validated settings of one stack."""

    stack: str
    """Stack name (``local``, ``staging``, ``prod``); prefixes topic names."""
    registry: str
    """Registry model images are pushed to, ``host[:port]``."""
    docker_host: str
    """Docker engine URL, ``unix://`` or ``ssh://``."""
    kafka: KafkaConfig
    """Kafka connection."""
    registry_auth: RegistryAuth = field(default_factory=RegistryAuth)
    """How to log in to ``registry``."""
    docker_tls: DockerTls | None = None
    """TLS of a ``tcp://`` ``docker_host``."""
    bind_address: str = DEFAULT_BIND_ADDRESS
    """Address routers publish their ports on."""
    port_offset: int = 0
    """Added to every model's host ports."""
    serving_base_image: str | None = None
    """Base image for specs that leave ``serving.baseImage`` null."""
    router_image: str = DEFAULT_ROUTER_IMAGE
    """HAProxy image of the routers."""
    replicas: FrozenMap[str, int] = field(default_factory=FrozenMap)
    """Replica overrides by model name."""
    kafka_users: FrozenMap[str, Secret] = field(default_factory=FrozenMap)
    """SCRAM users the stack creates: name → password."""
    protect: bool = False
    """Protect the stack's topics from deletion."""
    network: str | None = None
    """Docker network name; ``None`` means ``maas-<stack>``."""
    allowed_sources: tuple[str, ...] = ("local",)
    """``maas:allowedSources``: patterns a spec's repository must match
    (:func:`maas_iac.source.urls.source_allowed`); unset, local sources only."""
    promoted: FrozenMap[str, Promotion] = field(default_factory=FrozenMap)
    """``maas:promoted``: models pinned to a promoted image, by name."""
    kubernetes: KubernetesConfig | None = None
    """``maas:kubernetes``: set exactly when ``maas:engine`` is ``kubernetes``, which then runs
    the replicas, routers and bridges instead of ``docker_host`` (which still builds)."""
    source_file: Path | None = field(default=None, compare=False)
    """The stack file read, if any."""

    @property
    def network_name(self) -> str:
        """The Docker network the stack's containers share."""
        return self.network or f"maas-{self.stack}"

    @property
    def engine(self) -> str:
        """``docker`` or ``kubernetes``: what runs the stack's replicas, routers and bridges."""
        return "kubernetes" if self.kubernetes is not None else "docker"

    @property
    def events_topic(self) -> str:
        """The stack's compacted model-events topic."""
        return events_topic(self.stack)

    def base_image_for(self, spec: ModelServiceSpec) -> str:
        """The serving base image ``spec`` builds FROM on this stack."""
        return spec.serving.base_image or self.serving_base_image or DEFAULT_SERVING_BASE_IMAGE

    def replicas_for(self, spec: ModelServiceSpec) -> int:
        """Replica count of ``spec`` on this stack."""
        return self.replicas.get(spec.name, spec.serving.replicas)

    def ports_for(self, spec: ModelServiceSpec) -> Ports:
        """Host ports of ``spec`` 's router on this stack."""
        return Ports(
            rest=spec.serving.ports.rest + self.port_offset,
            grpc=spec.serving.ports.grpc + self.port_offset,
        )


def apply_stack_config(spec: ModelServiceSpec, stack: StackConfig) -> ModelServiceSpec:
    """``spec`` as it runs on ``stack``: replicas, base image and ports after the merge rule.

    The result always has a ``serving.base_image``; everything else is unchanged.
    """
    serving = dataclasses.replace(
        spec.serving,
        replicas=stack.replicas_for(spec),
        base_image=stack.base_image_for(spec),
        ports=stack.ports_for(spec),
    )
    return dataclasses.replace(spec, serving=serving)


def stack_name_from_file(path: str | os.PathLike[str]) -> str | None:
    """``staging`` for ``stacks/Pulumi.staging.yaml``; ``None`` if the name does not match."""
    match = _STACK_FILE.match(Path(path).name)
    return match["stack"] if match else None


def load_stack_config(
    source: str | os.PathLike[str] | Mapping[str, Any], *, stack: str | None = None
) -> StackConfig:
    """Read and validate a stack config; raise :class:`StackConfigError` with every problem.

    ``source`` is a stack file path (the stack name then comes from ``Pulumi.<stack>.yaml``
    unless ``stack`` is given) or a mapping of keys, with or without the ``maas:`` prefix, as
    the Pulumi program reads them (``stack`` required, e.g. ``pulumi.get_stack()``). Mapping
    values may be the strings ``pulumi.Config.get`` returns: JSON text for ``kafka`` and
    ``replicas``, ``"8"`` for ``portOffset``, ``"true"`` for ``protect``.
    """
    if isinstance(source, Mapping):
        config, problems = check_stack_mapping(source, stack=stack)
    else:
        config, problems, _ = check_stack_file(source, stack=stack)
    if problems or config is None:
        raise StackConfigError(problems)
    return config


def check_stack_file(
    path: str | os.PathLike[str], *, stack: str | None = None, display: str | None = None
) -> tuple[StackConfig | None, list[SpecProblem], Document]:
    """Read a stack file: the config (``None`` on problems), every problem found, and the
    document (for positions in later checks)."""
    doc = read_file(path, display=display)
    name = stack or stack_name_from_file(path)
    problems = list(doc.problems)
    if name is None:
        problems.append(
            SpecProblem(doc.file, None, None, "$", M.STACK_FILE_NAME.format(name=Path(path).name), M.STACK_NAME_FIX)
        )
        return None, problems, doc
    if doc.data is None:
        return None, problems, doc
    config, more = _check_file_document(doc, name, Path(path))
    problems += more
    return (config if not problems else None), problems, doc


def check_stack_mapping(
    source: Mapping[str, Any], *, stack: str | None
) -> tuple[StackConfig | None, list[SpecProblem]]:
    """Validate a mapping of stack keys; the config (``None`` on problems) and the problems."""
    label = f"<stack config {stack or '?'}>"
    doc = Document(label)
    problems: list[SpecProblem] = []
    data: dict[str, Any] = {}
    for raw_key, value in source.items():
        key = str(raw_key)
        if key.startswith(CONFIG_NAMESPACE + ":"):
            key = key[len(CONFIG_NAMESPACE) + 1 :]
        if value is None:
            continue
        value, problem = _coerce(key, value, label)
        if problem:
            problems.append(problem)
        else:
            data[key] = value
    doc.data = data
    if stack is None or not _STACK_NAME.match(stack):
        problems.append(
            SpecProblem(label, None, None, "$", M.STACK_NAME.format(value=stack), M.STACK_NAME_FIX)
        )
        return None, problems
    config, more = _validate(doc, data, stack, None, from_file=False, render=None)
    problems += more
    return (config if not problems else None), problems


def _coerce(key: str, value: Any, label: str) -> tuple[Any, SpecProblem | None]:
    """Undo ``pulumi.Config.get``'s stringification for structured, integer and boolean keys."""
    if isinstance(value, str) and key in _OBJECT_KEYS:
        try:
            value = json.loads(value)
        except ValueError as exc:
            return None, SpecProblem(
                label, None, None, render_path((key,)), M.STACK_NOT_JSON.format(key=key, reason=exc)
            )
    return _coerce_scalar(key, value), None


def _coerce_scalar(key: str, value: Any) -> Any:
    """Pulumi stores scalar config as strings (``maas:portOffset: "0"``, ``maas:protect:
    "false"``, replica counts set with ``--path``): read them back as numbers and booleans."""
    if isinstance(value, str):
        text = value.strip()
        if key in _INT_KEYS and re.fullmatch(r"-?[0-9]{1,9}", text):
            return int(text)
        if key in _BOOL_KEYS and text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif key == "replicas" and isinstance(value, Mapping):
        return {k: _int_text(v) for k, v in value.items()}
    elif key == "promoted" and isinstance(value, Mapping):
        return {k: {**pin, "versions": [_int_text(v) for v in pin["versions"]]}
                if isinstance(pin, Mapping) and isinstance(pin.get("versions"), list) else pin
                for k, pin in value.items()}
    return value


def _int_text(value: Any) -> Any:
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()) else value


def _check_file_document(doc: Document, stack: str, path: Path) -> tuple[StackConfig | None, list[SpecProblem]]:
    problems: list[SpecProblem] = []
    top = doc.data
    if not isinstance(top, Mapping):
        return None, [doc.problem((), M.WRONG_TYPE.format(expected="a mapping", actual="something else"))]
    for key in top:
        if key not in _PULUMI_TOP_LEVEL:
            suggestion = did_you_mean(key, _PULUMI_TOP_LEVEL)
            fix = M.DID_YOU_MEAN.format(suggestion=suggestion) if suggestion else M.ALLOWED_KEYS.format(
                allowed=", ".join(_PULUMI_TOP_LEVEL)
            )
            problems.append(doc.problem((key,), M.UNKNOWN_KEY.format(key=key), fix, prefer_key=True))
    if not _STACK_NAME.match(stack):
        problems.append(doc.problem((), M.STACK_NAME.format(value=stack), M.STACK_NAME_FIX))
    config = top.get("config")
    if config is None:
        problems.append(doc.problem((), M.MISSING_KEY.format(key="config"), M.MISSING_KEY_FIX.format(key="config", example="{maas:registry: 127.0.0.1:5000, ...}")))
        return None, problems
    if not isinstance(config, Mapping):
        problems.append(doc.problem(("config",), M.WRONG_TYPE.format(expected="a mapping", actual=type(config).__name__)))
        return None, problems

    # Lift the maas: keys out of config:, keeping their positions under the lifted paths.
    lifted = Document(doc.file)
    data: dict[str, Any] = {}
    prefix = CONFIG_NAMESPACE + ":"
    for key, value in config.items():
        if key.startswith(prefix):
            name = key[len(prefix) :]
            if name in _OBJECT_KEYS and isinstance(value, str):
                # `pulumi config set maas:kafka '{...}'` (without --path) stores JSON text.
                value, problem = _coerce(name, value, doc.file)
                if problem:
                    problems.append(problem)
                    continue
            data[name] = _coerce_scalar(name, value)
            base: DocPath = ("config", key)
            for p, pos in doc.values.items():
                if p[:2] == base:
                    lifted.values[(name,) + p[2:]] = pos
            for p, pos in doc.keys.items():
                if p[:2] == base:
                    lifted.keys[(name,) + p[2:]] = pos
        elif ":" not in key and key in STACK_CONFIG_KEYS:
            problems.append(
                doc.problem(
                    ("config", key),
                    M.STACK_NOT_NAMESPACED.format(key=key),
                    M.STACK_NOT_NAMESPACED_FIX.format(key=key),
                    prefer_key=True,
                )
            )
        # keys of other namespaces belong to other programs and providers
    lifted.values.setdefault((), doc.values.get(("config",), (1, 1)))
    lifted.keys.setdefault((), doc.keys.get(("config",), (1, 1)))
    lifted.data = data

    def render(p: DocPath) -> str:
        if not p:
            return "$.config"
        return render_path(("config", prefix + str(p[0])) + tuple(p[1:]))

    result, more = _validate(lifted, data, stack, path, from_file=True, render=render)
    return result, problems + more


def _validate(
    doc: Document,
    data: dict[str, Any],
    stack: str,
    path: Path | None,
    *,
    from_file: bool,
    render: Any,
) -> tuple[StackConfig | None, list[SpecProblem]]:
    problems = schema_problems(doc, STACKCONFIG_SCHEMA, data=data, render=render)
    kafka = data.get("kafka")
    secrets: list[tuple[DocPath, Any]] = [(("kafka", "saslPassword"),
                                          kafka.get("saslPassword") if isinstance(kafka, Mapping) else None)]
    auth = data.get("registryAuth")
    if isinstance(auth, Mapping):
        secrets.append((("registryAuth", "password"), auth.get("password")))
    tls = data.get("dockerTls")
    if isinstance(tls, Mapping):
        secrets.append((("dockerTls", "key"), tls.get("key")))
    users = data.get("kafkaUsers")
    if isinstance(users, Mapping):
        secrets += [(("kafkaUsers", str(name)), value) for name, value in users.items()]
    for p, value in secrets:
        if from_file and isinstance(value, str):
            dotted = ".".join(str(part) for part in p)
            problems.append(
                doc.problem(
                    p,
                    M.STACK_SECRET_IN_CLEAR.format(key=p[-1]),
                    M.STACK_SECRET_IN_CLEAR_FIX.format(path=f"{CONFIG_NAMESPACE}:{dotted}"),
                    display_path=render(p) if render else None,
                )
            )
    if problems:
        return None, problems
    return _build(data, stack, path), []


def _secret(value: Any) -> Secret | None:
    """A secret as the stack file holds it (ciphertext) or the program reads it (plaintext)."""
    if isinstance(value, Mapping):
        return Secret(ciphertext=value["secure"])
    if isinstance(value, str):
        return Secret(plaintext=value)
    return None


def _build(data: Mapping[str, Any], stack: str, path: Path | None) -> StackConfig:
    kafka = data["kafka"]
    servers = kafka["bootstrapServers"]
    if isinstance(servers, str):
        servers = servers.split(",")
    secret = _secret(kafka.get("saslPassword"))
    auth = data.get("registryAuth") or {}
    tls = data.get("dockerTls")
    cluster = data.get("kubernetes") if data.get("engine") == "kubernetes" else None
    kw: dict[str, Any] = {}
    for key, attr in (
        ("bindAddress", "bind_address"),
        ("portOffset", "port_offset"),
        ("servingBaseImage", "serving_base_image"),
        ("routerImage", "router_image"),
        ("protect", "protect"),
        ("network", "network"),
    ):
        if key in data:
            kw[attr] = data[key]
    return StackConfig(
        stack=stack,
        registry=data["registry"],
        docker_host=data["dockerHost"],
        kafka=KafkaConfig(
            bootstrap_servers=tuple(s.strip() for s in servers),
            security_protocol=kafka.get("securityProtocol", "PLAINTEXT"),
            sasl_mechanism=kafka.get("saslMechanism"),
            sasl_username=kafka.get("saslUsername"),
            sasl_password=secret,
            ca_file=kafka.get("caFile"),
        ),
        docker_tls=None if tls is None else DockerTls(
            ca_file=tls.get("caFile"), cert_file=tls.get("certFile"), key_file=tls.get("keyFile"),
            ca=tls.get("ca"), cert=tls.get("cert"), key=_secret(tls.get("key"))),
        registry_auth=RegistryAuth(
            username=auth.get("username"), password=_secret(auth.get("password")),
            credential_helper=auth.get("credentialHelper"), ca_file=auth.get("caFile")),
        replicas=FrozenMap(data.get("replicas", {})),
        kafka_users=FrozenMap({name: _secret(value) for name, value in (data.get("kafkaUsers") or {}).items()}),
        allowed_sources=tuple(data.get("allowedSources", ("local",))),
        promoted=FrozenMap({name: Promotion(from_stack=pin["fromStack"], image=pin["image"], tag=pin["tag"],
                                            git_sha=pin["gitSha"], digest=pin["digest"],
                                            versions=tuple(pin["versions"]))
                            for name, pin in (data.get("promoted") or {}).items()}),
        kubernetes=None if cluster is None else KubernetesConfig(
            kubeconfig=cluster["kubeconfig"], namespace=cluster.get("namespace") or f"maas-{stack}",
            context=cluster.get("context")),
        source_file=path,
        **kw,
    )
