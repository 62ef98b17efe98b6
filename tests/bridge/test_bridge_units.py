"""The bridge's settings and message helpers (no services)."""

from __future__ import annotations

import json

import pytest

from maas_dataplane.bridge import messages as H
from maas_dataplane.bridge.config import ConfigError, parse_config

ARGS = ["--bootstrap-servers", "127.0.0.1:9092", "--stack", "local", "--model", "hpt", "--grpc-target", "router:8500"]


def test_names_derive_from_stack_model_and_ordinal() -> None:
    c = parse_config([*ARGS, "--ordinal", "2"], env={})
    assert (c.requests_topic, c.predictions_topic, c.errors_topic) == (
        "local.hpt.requests", "local.hpt.predictions", "local.hpt.errors")
    assert c.group_id == "local.hpt.bridge" and c.transactional_id == "local.hpt.bridge-2"


def test_every_flag_has_an_environment_variable_and_the_flag_wins() -> None:
    env = {"MAAS_BRIDGE_BOOTSTRAP_SERVERS": "k:1", "MAAS_BRIDGE_MODEL": "m", "MAAS_BRIDGE_STACK": "s",
           "MAAS_BRIDGE_GRPC_TARGET": "r:8500", "MAAS_BRIDGE_MAX_BATCH_SIZE": "16", "MAAS_BRIDGE_LINGER_MS": "0"}
    c = parse_config([], env=env)
    assert (c.bootstrap_servers, c.model, c.max_batch_size, c.linger_ms) == ("k:1", "m", 16, 0.0)
    assert parse_config(["--max-batch-size", "4"], env=env).max_batch_size == 4


def test_kafka_settings_come_from_a_file_and_variables_and_the_password_is_never_shown(tmp_path) -> None:
    conf = tmp_path / "kafka.json"
    conf.write_text(json.dumps({"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}))
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    env = {"MAAS_BRIDGE_KAFKA_SASL_USERNAME": "bridge", "MAAS_BRIDGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}
    c = parse_config([*ARGS, "--kafka-config", str(conf), "--sasl-password-file", str(secret)], env=env)
    assert c.kafka == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                       "sasl.username": "bridge", "sasl.password": "s3cret"}
    assert "s3cret" not in c.describe() and "***" in c.describe()
    assert parse_config(ARGS, env={"MAAS_BRIDGE_SASL_PASSWORD": "p"}).kafka["sasl.password"] == "p"


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["--model", "m"], {}, "--bootstrap-servers"),
    ([*ARGS[:4]], {}, "--model"),
    (["--bootstrap-servers", "k:1", "--model", "m", "--grpc-target", "r:1"], {}, "--group-id is required without --stack"),
    ([*ARGS, "--max-batch-size", "0"], {}, "at least 1"),
    (ARGS, {"MAAS_BRIDGE_KAFKA_TRANSACTIONAL_ID": "x"}, "the bridge's own"),
])
def test_bad_settings_are_one_clear_error(argv, env, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("-", "\\-")):
        parse_config(argv, env=env)


def test_header_lookup_is_case_insensitive_and_takes_the_last() -> None:
    headers = [("Content-Type", b"application/json"), ("model-version", b"1"), ("model-version", b"2")]
    assert H.header(headers, "content-type") == "application/json"
    assert H.header(headers, H.MODEL_VERSION) == "2"
    assert H.header(None, H.MODEL_VERSION) is None


def test_the_bridge_loads_without_the_tensorflow_runtime():
    import subprocess
    import sys

    code = ("import sys; from maas_dataplane.bridge.protos import protos_only; assert protos_only(); "
            "import maas_dataplane.bridge.loop, maas_dataplane.bridge.inference; "
            "print(sorted(m for m in sys.modules if m.startswith('tensorflow.python')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
