"""Stack config: from the stack file, from a Pulumi-style mapping, and the merge rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.errors import SpecError, StackConfigError
from maas_iac.spec import messages as M
from maas_iac.spec import (
    DEFAULT_SERVING_BASE_IMAGE,
    Ports,
    Secret,
    apply_stack_config,
    load_stack_config,
    parse_spec,
)

REPO = Path(__file__).resolve().parents[3]


def test_local_stack_file() -> None:
    config = load_stack_config(REPO / "stacks" / "Pulumi.local.yaml")
    assert config.stack == "local"
    assert config.registry == "127.0.0.1:5000"
    assert config.docker_host == "unix:///var/run/docker.sock"
    assert config.kafka.bootstrap_servers == ("127.0.0.1:9092",)
    assert config.kafka.security_protocol == "PLAINTEXT"
    assert config.bind_address == "127.0.0.1"
    assert config.serving_base_image == "127.0.0.1:5000/maas/serving:2.21.0"
    assert config.router_image == "127.0.0.1:5000/maas/haproxy:2.6"
    assert config.network_name == "maas-local"
    assert config.events_topic == "local.model-events"
    assert config.protect is False


def test_staging_stack_file_validates_with_its_secret_as_ciphertext() -> None:
    config = load_stack_config(REPO / "stacks" / "Pulumi.staging.yaml")
    assert config.docker_host.startswith("ssh://")
    assert config.kafka.security_protocol == "SASL_SSL"
    assert config.kafka.sasl_password is not None
    assert config.kafka.sasl_password.ciphertext
    assert config.kafka.sasl_password.plaintext is None
    assert config.protect is True
    with pytest.raises(StackConfigError):
        config.kafka.sasl_password.reveal()


def test_mapping_as_the_pulumi_program_reads_it() -> None:
    # pulumi.Config("maas").get(...) returns strings; structured values as JSON text.
    config = load_stack_config(
        {
            "maas:registry": "registry.example.com",
            "dockerHost": "ssh://deploy@docker-1.example.com",
            "kafka": '{"bootstrapServers": "k1:9093,k2:9093", "securityProtocol": "SASL_SSL",'
            ' "saslMechanism": "PLAIN", "saslUsername": "maas", "saslPassword": "s3cret"}',
            "portOffset": "100",
            "protect": "true",
            "replicas": '{"m": 4}',
            "network": None,
        },
        stack="prod",
    )
    assert config.stack == "prod"
    assert config.port_offset == 100 and config.protect is True
    assert config.kafka.bootstrap_servers == ("k1:9093", "k2:9093")
    assert config.kafka.sasl_password == Secret(plaintext="s3cret")
    assert "s3cret" not in repr(config)
    assert config.kafka.sasl_password.reveal() == "s3cret"
    assert config.replicas == {"m": 4}
    assert config.network_name == "maas-prod"


def test_mapping_problems_are_all_reported() -> None:
    with pytest.raises(StackConfigError) as info:
        load_stack_config({"registry": "https://x/y", "kafka": "{not json", "portOffset": "lots"}, stack="dev")
    messages = sorted(p.message for p in info.value.problems)
    assert any(m.startswith("kafka must be a mapping or its JSON text") for m in messages)
    assert M.REGISTRY.format(value="https://x/y") in messages
    assert M.MISSING_KEY.format(key="dockerHost") in messages
    assert M.WRONG_TYPE.format(expected="an integer", actual="the string 'lots'") in messages


def test_mapping_needs_a_legal_stack_name() -> None:
    with pytest.raises(StackConfigError) as info:
        load_stack_config({"registry": "r:5000"}, stack=None)
    assert info.value.problems[0].message == M.STACK_NAME.format(value=None)


def test_stack_file_with_an_unexpected_name(write) -> None:
    path = write("stack.yaml", "config: {}\n")
    with pytest.raises(StackConfigError) as info:
        load_stack_config(path)
    assert info.value.problems[0].message == M.STACK_FILE_NAME.format(name="stack.yaml")


def test_stack_config_error_is_a_spec_error() -> None:
    assert issubclass(StackConfigError, SpecError)


@pytest.fixture
def make_spec(spec_text):
    return lambda **kw: parse_spec(spec_text(**kw))


def test_merge_rule_stack_overrides_replicas_base_image_and_ports(make_spec) -> None:
    stack = load_stack_config(
        {
            "registry": "r:5000",
            "dockerHost": "unix:///var/run/docker.sock",
            "kafka": {"bootstrapServers": "k:9092"},
            "portOffset": 1000,
            "servingBaseImage": "127.0.0.1:5000/maas/serving:2.21.0",
            "replicas": {"m": 5},
        },
        stack="qa",
    )
    spec = make_spec(name="m", rest=8501, grpc=8500)
    effective = apply_stack_config(spec, stack)
    assert effective.serving.replicas == 5
    assert effective.serving.base_image == "127.0.0.1:5000/maas/serving:2.21.0"
    assert effective.serving.ports == Ports(rest=9501, grpc=9500)
    assert effective.serving.health == spec.serving.health
    assert spec.serving.replicas == 2  # the spec itself is untouched

    other = make_spec(name="other", rest=8601, grpc=8600)
    assert apply_stack_config(other, stack).serving.replicas == 2


def test_merge_rule_an_explicit_base_image_in_the_spec_wins(spec_text) -> None:
    stack = load_stack_config(
        {"registry": "r:5000", "dockerHost": "unix:///d.sock", "kafka": {"bootstrapServers": "k:9092"},
         "servingBaseImage": "stack/serving:1"},
        stack="qa",
    )
    text = spec_text().replace("  replicas: 2\n", "  replicas: 2\n  baseImage: spec/serving:2\n")
    assert apply_stack_config(parse_spec(text), stack).serving.base_image == "spec/serving:2"


def test_merge_rule_default_base_image(make_spec) -> None:
    stack = load_stack_config(
        {"registry": "r:5000", "dockerHost": "unix:///d.sock", "kafka": {"bootstrapServers": "k:9092"}}, stack="qa"
    )
    assert stack.base_image_for(make_spec()) == DEFAULT_SERVING_BASE_IMAGE == "tensorflow/serving:2.19.0"
    assert stack.bind_address == "127.0.0.1"


def test_stack_file_as_pulumi_writes_it_with_scalars_as_strings(write) -> None:
    path = write(
        "Pulumi.dev.yaml",
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  maas:registry: 127.0.0.1:5000\n"
        "  maas:dockerHost: unix:///var/run/docker.sock\n"
        "  maas:kafka:\n"
        "    bootstrapServers: 127.0.0.1:9092\n"
        '  maas:portOffset: "100"\n'
        '  maas:protect: "true"\n'
        "  maas:replicas:\n"
        '    m: "3"\n',
    )
    config = load_stack_config(path)
    assert (config.port_offset, config.protect, config.replicas) == (100, True, {"m": 3})


def test_an_object_key_stored_as_json_text_reads_as_the_object(tmp_path: Path) -> None:
    # What `pulumi config set maas:kafka '{...}'` (without --path) writes into the stack file.
    path = tmp_path / "Pulumi.jt.yaml"
    path.write_text("config:\n  maas:registry: 127.0.0.1:5000\n  maas:dockerHost: unix:///var/run/docker.sock\n"
                    "  maas:kafka: '{\"bootstrapServers\": \"127.0.0.1:9092\"}'\n")
    assert load_stack_config(path).kafka.bootstrap_servers == ("127.0.0.1:9092",)
    path.write_text(path.read_text().replace('"127.0.0.1:9092"}', '"127.0.0.1:9092"'))
    with pytest.raises(StackConfigError, match="must be a mapping or its JSON text"):
        load_stack_config(path)


PIN = {"fromStack": "local", "image": "sha256:" + "a" * 64, "tag": "md-0123456789ab", "gitSha": "b" * 40,
       "digest": "c" * 64, "versions": ["1", 2]}


def test_promoted_models_as_the_program_reads_them() -> None:
    import json

    from maas_iac.spec import Promotion

    config = load_stack_config({"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
                                "kafka": '{"bootstrapServers": "127.0.0.1:9092"}',
                                "promoted": json.dumps({"half-plus-two": PIN})}, stack="prodlike")
    pin = config.promoted["half-plus-two"]
    assert pin == Promotion(from_stack="local", image=PIN["image"], tag=PIN["tag"], git_sha=PIN["gitSha"],
                            digest=PIN["digest"], versions=(1, 2))
    assert pin.to_config() == {**PIN, "versions": [1, 2]}


def test_a_promotion_without_a_manifest_digest_is_refused() -> None:
    with pytest.raises(StackConfigError) as info:
        load_stack_config({"registry": "r:5000", "dockerHost": "unix:///var/run/docker.sock",
                           "kafka": {"bootstrapServers": "k:9092"},
                           "promoted": {"m": {**PIN, "image": "md-0123456789ab"}}}, stack="s")
    assert any(p.json_path == "$.promoted.m.image" for p in info.value.problems)


def test_the_k8s_stack_file_selects_the_kubernetes_engine() -> None:
    config = load_stack_config(REPO / "stacks" / "Pulumi.k8s.yaml")
    assert config.engine == "kubernetes"
    assert config.kubernetes.kubeconfig == "~/.cache/maas-iac/k8s/kubeconfig"
    assert config.kubernetes.namespace == "maas-k8s" and config.kubernetes.context is None
    assert load_stack_config(REPO / "stacks" / "Pulumi.local.yaml").engine == "docker"


def test_engine_mistakes_are_named_with_their_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.k8s.yaml"
    path.write_text("config:\n"
                    "  maas:engine: kubernets\n"
                    "  maas:kubernetes: {kubeconfig: ~/.kube/config, namespce: x}\n"
                    "  maas:registry: 127.0.0.1:5000\n"
                    "  maas:dockerHost: unix:///var/run/docker.sock\n"
                    "  maas:kafka: {bootstrapServers: '127.0.0.1:9092'}\n")
    with pytest.raises(StackConfigError) as err:
        load_stack_config(path)
    text = err.value.render()
    assert f"{path}:2:16: $.config['maas:engine']: 'kubernets' is not one of 'docker', 'kubernetes'" in text
    assert "did you mean 'kubernetes'?" in text
    assert "unknown key 'namespce'" in text and "did you mean 'namespace'?" in text


def test_a_kubernetes_stack_needs_its_cluster_and_has_no_docker_network_or_port_offset() -> None:
    base = {"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
            "kafka": {"bootstrapServers": "127.0.0.1:9092"}, "engine": "kubernetes"}
    with pytest.raises(StackConfigError, match="missing key 'kubernetes', required when engine is 'kubernetes'"):
        load_stack_config(base, stack="k8s")
    cluster = {"kubernetes": {"kubeconfig": "~/.kube/config"}}
    for key, value in (("portOffset", 10), ("network", "maas-x")):
        with pytest.raises(StackConfigError, match=f"key '{key}' is not allowed when engine is 'kubernetes'"):
            load_stack_config({**base, **cluster, key: value}, stack="k8s")
    config = load_stack_config({**base, **cluster, "kubernetes": {"kubeconfig": "~/k", "context": "prod"}}, stack="k8s")
    assert (config.kubernetes.namespace, config.kubernetes.context) == ("maas-k8s", "prod")
