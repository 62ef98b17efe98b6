"""Bridge under Pulumi mocks: its containers, their names, identities and inputs."""

from __future__ import annotations

import json

import pulumi

from maas_dataplane.contract import PYTHON
from maas_iac import type_tokens
from maas_iac.components import Bridge, BridgeArgs, bridge_placement

SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""How the engine's wire format marks a secret value."""


def _env(inputs: dict) -> tuple[dict, bool]:
    env = inputs["env"]
    if isinstance(env, dict) and SECRET_SIG in env:
        return env["value"], True
    return env, False


def _args(**over) -> BridgeArgs:
    base = dict(
        stack="staging", model_name="hpt", image="127.0.0.1:5000/maas/hpt@sha256:" + "ab" * 32, consumers=3,
        network="maas-staging", grpc_target="staging-hpt-router:8500", bootstrap_servers="kafka-1:9093,kafka-2:9093",
        requests_topic="staging.hpt.requests", predictions_topic="staging.hpt.predictions",
        errors_topic="staging.hpt.errors", labels={"maas.stack": "staging", "maas.model": "hpt"},
        name_prefix="staging-hpt-bridge", git_sha="a" * 40, digest="sha256:" + "d" * 64, max_batch_size=32,
        linger_ms=2, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="bridge",
        sasl_password="s3cret",
    )
    base.update(over)
    return BridgeArgs(**base)


def _deploy(args: BridgeArgs, name: str = "hpt-bridge") -> None:
    @pulumi.runtime.test
    def construct():
        return Bridge(name, args).names

    construct()


def test_one_container_per_consumer_with_its_own_ordinal(mocks):
    _deploy(_args())
    regs = mocks.by_name()
    assert regs["hpt-bridge"].type_ == type_tokens.BRIDGE == "maas:index:Bridge"
    containers = [r for r in mocks.registrations if r.name.startswith("hpt-bridge-")]
    assert sorted(r.name for r in containers) == ["hpt-bridge-0", "hpt-bridge-1", "hpt-bridge-2"]
    for i, r in enumerate(sorted(containers, key=lambda r: r.name)):
        assert r.type_ == type_tokens.CONTAINER
        assert r.parent.endswith("maas:index:Bridge::hpt-bridge")
        i_ = r.inputs
        assert i_["command"] == [PYTHON, "-m", "maas_dataplane.bridge"] and PYTHON.startswith("/")
        assert i_["image"].endswith("@sha256:" + "ab" * 32)
        assert i_["labels"] == {"maas.stack": "staging", "maas.model": "hpt", "maas.role": "bridge"}
        assert i_["network"] == "maas-staging" and i_["ports"] == [] and i_.get("healthcheck") is None
        assert i_["restart"] == "unless-stopped" and i_["stop_grace_period_s"] >= 10
        assert i_["name_prefix"] == "staging-hpt-bridge" and not i_.get("name")  # generated: create-before-delete
        env, _ = _env(i_)
        assert env["MAAS_BRIDGE_ORDINAL"] == str(i)
        assert env["MAAS_BRIDGE_STACK"] == "staging" and env["MAAS_BRIDGE_MODEL"] == "hpt"
        assert env["MAAS_BRIDGE_GRPC_TARGET"] == "staging-hpt-router:8500"
        assert env["MAAS_BRIDGE_BOOTSTRAP_SERVERS"] == "kafka-1:9093,kafka-2:9093"
        assert (env["MAAS_BRIDGE_REQUESTS_TOPIC"], env["MAAS_BRIDGE_PREDICTIONS_TOPIC"], env["MAAS_BRIDGE_ERRORS_TOPIC"]) == (
            "staging.hpt.requests", "staging.hpt.predictions", "staging.hpt.errors")
        assert env["MAAS_BRIDGE_GIT_SHA"] == "a" * 40 and env["MAAS_BRIDGE_DIGEST"] == "sha256:" + "d" * 64
        assert (env["MAAS_BRIDGE_MAX_BATCH_SIZE"], env["MAAS_BRIDGE_LINGER_MS"]) == ("32", "2")
        assert env["MAAS_BRIDGE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["MAAS_BRIDGE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["MAAS_BRIDGE_KAFKA_SASL_USERNAME"] == "bridge"
        assert "s3cret" not in " ".join(i_["command"])


def test_the_sasl_password_is_a_secret_env_value(mocks):
    _deploy(_args(consumers=1), name="b")
    reg = mocks.by_name()["b-0"]
    env, secret = reg.inputs["env"], reg.is_secret("env", "MAAS_BRIDGE_SASL_PASSWORD")
    assert secret, "the password reaches the engine as a secret"
    assert env["MAAS_BRIDGE_SASL_PASSWORD"] == "s3cret"


def test_plaintext_has_no_sasl_settings(mocks):
    _deploy(_args(consumers=1, security_protocol="PLAINTEXT", sasl_mechanism=None, sasl_username=None, sasl_password=None))
    reg = mocks.by_name()["hpt-bridge-0"]
    env, secret = reg.inputs["env"], SECRET_SIG in json.dumps(reg.raw)
    assert not secret and env["MAAS_BRIDGE_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not {"MAAS_BRIDGE_SASL_PASSWORD", "MAAS_BRIDGE_KAFKA_SASL_MECHANISM"} & set(env)


def test_placement_on_the_stack_network_or_the_host_for_a_loopback_broker():
    assert bridge_placement("kafka-1:9093", "maas-staging", "staging-hpt-router", "0.0.0.0", 8500) == (
        "maas-staging", "staging-hpt-router:8500")
    assert bridge_placement("127.0.0.1:9092", "maas-local", "local-hpt-router", "127.0.0.1", 18500) == (
        "host", "127.0.0.1:18500")
    assert bridge_placement("localhost:9092,[::1]:9092", "n", "r", "0.0.0.0", 1) == ("host", "127.0.0.1:1")


def test_model_topics_declare_the_errors_topic_only_when_given(mocks):
    from maas_iac.components import ModelTopics, ModelTopicsArgs, TopicArgs

    @pulumi.runtime.test
    def construct():
        with_errors = ModelTopics("a-topics", ModelTopicsArgs(
            requests=TopicArgs("s.a.requests", 3, 1, {}), predictions=TopicArgs("s.a.predictions", 3, 1, {}),
            errors=TopicArgs("s.a.errors", 1, 1, {"retention.ms": "1209600000"})))
        without = ModelTopics("b-topics", ModelTopicsArgs(
            requests=TopicArgs("s.b.requests", 1, 1, {}), predictions=TopicArgs("s.b.predictions", 1, 1, {})))
        return pulumi.Output.all(with_errors.errors_topic, without.predictions_topic)

    construct()
    regs = mocks.by_name()
    assert regs["a-topics-errors"].inputs["name"] == "s.a.errors"
    assert regs["a-topics-errors"].inputs["config"] == {"retention.ms": "1209600000"}
    assert "b-topics-errors" not in regs
