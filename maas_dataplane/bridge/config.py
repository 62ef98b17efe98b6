"""The bridge's settings: flags, each with an environment variable of the same meaning.

Every flag ``--some-flag`` can also be given as ``MAAS_BRIDGE_SOME_FLAG`` (the flag wins), so a
container sets everything through its environment. Kafka client settings (librdkafka names,
``security.protocol``, ``sasl.mechanism``, ``ssl.ca.location``...) come from a JSON object in
the file ``--kafka-config`` and from ``MAAS_BRIDGE_KAFKA_<NAME>`` variables (``MAAS_BRIDGE_KAFKA_SASL_MECHANISM``
is ``sasl.mechanism``; a variable wins over the file). The SASL password is read from
``--sasl-password-file`` or ``MAAS_BRIDGE_SASL_PASSWORD``: it has no flag of its own, so it is
never in argv, and it is never logged (:meth:`BridgeConfig.describe` masks it).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

__all__ = ["BridgeConfig", "ConfigError", "OWNED_KAFKA_KEYS", "parse_config", "SECRET_KAFKA_KEYS"]

ENV_PREFIX = "MAAS_BRIDGE_"
KAFKA_ENV_PREFIX = "MAAS_BRIDGE_KAFKA_"
PASSWORD_ENV = "MAAS_BRIDGE_SASL_PASSWORD"
OWNED_KAFKA_KEYS = frozenset({
    "bootstrap.servers", "group.id", "transactional.id", "enable.auto.commit", "isolation.level",
    "enable.idempotence",
})
"""Client settings the bridge sets itself; refused from the Kafka config."""
SECRET_KAFKA_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret"})


class ConfigError(ValueError):
    """A setting is missing or invalid (exit status 2)."""


@dataclass(frozen=True)
class BridgeConfig:
    bootstrap_servers: str
    grpc_target: str
    model: str
    requests_topic: str
    predictions_topic: str
    errors_topic: str
    group_id: str
    transactional_id: str
    git_sha: str = ""
    digest: str = ""
    max_batch_size: int = 64
    linger_ms: float = 5.0
    max_poll_records: int = 500
    grpc_timeout_s: float = 30.0
    transaction_timeout_ms: int = 30000
    kafka: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka settings for both clients (security), secrets included."""

    def describe(self) -> str:
        """One line for the log, secrets masked."""
        kafka = {k: ("***" if k in SECRET_KAFKA_KEYS else v) for k, v in sorted(self.kafka.items())}
        return (f"model={self.model} grpc={self.grpc_target} bootstrap={self.bootstrap_servers} "
                f"requests={self.requests_topic} predictions={self.predictions_topic} errors={self.errors_topic} "
                f"group={self.group_id} transactional.id={self.transactional_id} "
                f"maxBatchSize={self.max_batch_size} lingerMs={self.linger_ms:g} kafka={json.dumps(kafka)}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m maas_dataplane.bridge",
                                description="Answers a model's Kafka requests topic through its gRPC API, exactly once.")
    a = p.add_argument
    a("--bootstrap-servers", help="Kafka bootstrap servers, host:port[,host:port]")
    a("--kafka-config", help="JSON file of extra librdkafka settings (security.protocol, sasl.*, ssl.*)")
    a("--sasl-password-file", help="file holding the SASL password (or set MAAS_BRIDGE_SASL_PASSWORD)")
    a("--stack", help="stack name: default topics, group and transactional.id derive from it and --model")
    a("--model", help="model name, as the model server serves it")
    a("--grpc-target", help="the model's gRPC address, host:port (its router)")
    a("--requests-topic", help="default <stack>.<model>.requests")
    a("--predictions-topic", help="default <stack>.<model>.predictions")
    a("--errors-topic", help="default <stack>.<model>.errors")
    a("--group-id", help="consumer group, default <stack>.<model>.bridge")
    a("--ordinal", help="this instance's number (0, 1, ...): transactional.id <group>-<ordinal>")
    a("--transactional-id", help="overrides <group>-<ordinal>; must be stable across restarts of one instance")
    a("--git-sha", help="Git SHA of the deployed model source (header git-sha)")
    a("--digest", help="content digest of the served versions (header model-digest)")
    a("--max-batch-size", help="most rows per Predict call (default 64)")
    a("--linger-ms", help="how long to wait to fill a batch after its first request (default 5)")
    a("--max-poll-records", help="most requests per transaction (default 500)")
    a("--grpc-timeout-s", help="deadline of one Predict call (default 30)")
    a("--transaction-timeout-ms", help="transaction.timeout.ms (default 30000)")
    return p


def _value(args: argparse.Namespace, env: Mapping[str, str], name: str) -> Optional[str]:
    value = getattr(args, name)
    if value is None:
        value = env.get(ENV_PREFIX + name.upper()) or None
    return value


def _number(text: Optional[str], name: str, default, kind=int, minimum=0):
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"--{name.replace('_', '-')}: not a number: {text!r}") from None
    if value < minimum:
        raise ConfigError(f"--{name.replace('_', '-')}: must be at least {minimum}, got {text}")
    return value


def _kafka_settings(path: Optional[str], env: Mapping[str, str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as err:
            raise ConfigError(f"--kafka-config: cannot read {path}: {err.strerror}") from None
        except ValueError as err:
            raise ConfigError(f"--kafka-config: {path} is not JSON: {err}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"--kafka-config: {path} must hold a JSON object of librdkafka settings")
        settings.update({str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in doc.items()})
    for name, value in env.items():
        if name.startswith(KAFKA_ENV_PREFIX) and len(name) > len(KAFKA_ENV_PREFIX) and name != ENV_PREFIX + "KAFKA_CONFIG":
            settings[name[len(KAFKA_ENV_PREFIX):].lower().replace("_", ".")] = value
    owned = sorted(OWNED_KAFKA_KEYS & set(settings))
    if owned:
        raise ConfigError(f"Kafka settings {', '.join(owned)} are the bridge's own; use its flags instead")
    return settings


def parse_config(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> BridgeConfig:
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    v = lambda name: _value(args, env, name)  # noqa: E731
    stack, model = v("stack"), v("model")
    if not model:
        raise ConfigError("--model (or MAAS_BRIDGE_MODEL) is required")
    base = f"{stack}.{model}" if stack else None

    def derived(name: str, suffix: str) -> str:
        value = v(name)
        if value:
            return value
        if base is None:
            raise ConfigError(f"--{name.replace('_', '-')} is required without --stack")
        return f"{base}.{suffix}"

    bootstrap = v("bootstrap_servers")
    if not bootstrap:
        raise ConfigError("--bootstrap-servers (or MAAS_BRIDGE_BOOTSTRAP_SERVERS) is required")
    target = v("grpc_target")
    if not target:
        raise ConfigError("--grpc-target (or MAAS_BRIDGE_GRPC_TARGET) is required")
    group = derived("group_id", "bridge")
    ordinal = _number(v("ordinal"), "ordinal", 0)
    kafka = _kafka_settings(v("kafka_config"), env)
    password_file = v("sasl_password_file")
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as fh:
                kafka["sasl.password"] = fh.read().rstrip("\r\n")
        except OSError as err:
            raise ConfigError(f"--sasl-password-file: cannot read {password_file}: {err.strerror}") from None
    elif env.get(PASSWORD_ENV):
        kafka["sasl.password"] = env[PASSWORD_ENV]
    return BridgeConfig(
        bootstrap_servers=bootstrap,
        grpc_target=target,
        model=model,
        requests_topic=derived("requests_topic", "requests"),
        predictions_topic=derived("predictions_topic", "predictions"),
        errors_topic=derived("errors_topic", "errors"),
        group_id=group,
        transactional_id=v("transactional_id") or f"{group}-{ordinal}",
        git_sha=v("git_sha") or "",
        digest=v("digest") or "",
        max_batch_size=_number(v("max_batch_size"), "max_batch_size", 64, minimum=1),
        linger_ms=_number(v("linger_ms"), "linger_ms", 5.0, float),
        max_poll_records=_number(v("max_poll_records"), "max_poll_records", 500, minimum=1),
        grpc_timeout_s=_number(v("grpc_timeout_s"), "grpc_timeout_s", 30.0, float),
        transaction_timeout_ms=_number(v("transaction_timeout_ms"), "transaction_timeout_ms", 30000, minimum=1000),
        kafka=kafka,
    )
