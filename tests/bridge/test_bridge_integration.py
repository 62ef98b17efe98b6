"""The bridge end to end: real broker, real model server, real bridge processes.

Every test has its own topics; the assertions read the predictions and errors topics with
read_committed from the beginning, so an answer counted is an answer committed."""

from __future__ import annotations

import json
import signal
import time

import pytest

from .conftest import Stream, check_exactly_once, produce_requests

pytestmark = pytest.mark.integration


def _wait_for(reader, topic: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(reader.records[topic]) < n and time.monotonic() < deadline:
        reader.poll(0.2)
    assert len(reader.records[topic]) >= n, f"only {len(reader.records[topic])} of {n} answers"


def test_ten_thousand_requests_get_exactly_ten_thousand_predictions(topics, model_server, start_bridge, reader):
    sent = produce_requests(topics.requests, 0, 10_000)
    start_bridge(topics, model_server.target)
    r = reader(topics.predictions, topics.errors)
    r.until(10_000, timeout=90)
    assert r.records[topics.errors] == []
    check_exactly_once(r.records[topics.predictions], sent)


def test_a_bridge_killed_mid_stream_and_restarted_still_answers_exactly_once(topics, model_server, start_bridge, reader):
    sent = produce_requests(topics.requests, 0, 10_000)
    r = reader(topics.predictions, topics.errors)
    first = start_bridge(topics, model_server.target, 0, "--max-poll-records", "50")
    _wait_for(r, topics.predictions, 2_000, timeout=60)
    first.kill()  # SIGKILL: whatever transaction was open is left open
    assert len(r.records[topics.predictions]) < 10_000, "the stream ended before the kill"
    start_bridge(topics, model_server.target, 0)  # same ordinal: fences the dead one's transaction
    r.until(10_000, timeout=90)
    assert r.records[topics.errors] == []
    check_exactly_once(r.records[topics.predictions], sent)


def test_requests_that_can_never_succeed_go_to_errors_and_the_stream_goes_on(topics, model_server, start_bridge, reader):
    from confluent_kafka import Producer

    from .conftest import KAFKA

    before = produce_requests(topics.requests, 0, 500, prefix="a")
    producer = Producer({"bootstrap.servers": KAFKA})
    bad = {
        b"malformed": (b'{"instances": [[1.0]', [("content-type", b"application/json"), ("trace", b"t-1")]),
        b"wrong-shape": (json.dumps({"instances": [[1.0, 2.0]]}).encode(), [("content-type", b"application/json")]),
        b"wrong-type": (json.dumps({"instances": [["one"]]}).encode(), []),
        b"unknown-version": (json.dumps({"instances": [[1.0]]}).encode(), [("model-version", b"99")]),
    }
    for key, (value, headers) in bad.items():
        producer.produce(topics.requests, key=key, value=value, headers=headers)
    producer.produce(topics.requests, key=None, value=json.dumps({"instances": [[1.0]]}).encode())
    assert producer.flush(30) == 0
    after = produce_requests(topics.requests, 500, 500, prefix="b")
    start_bridge(topics, model_server.target)
    r = reader(topics.predictions, topics.errors)
    r.until(1000 + len(bad) + 1, timeout=60)
    check_exactly_once(r.records[topics.predictions], {**before, **after})
    errors = {m.key(): m for m in r.records[topics.errors]}
    assert len(r.records[topics.errors]) == len(bad) + 1
    codes = {k: dict(m.headers())["error-code"].decode() for k, m in errors.items()}
    assert codes == {b"malformed": "INVALID_ARGUMENT", b"wrong-shape": "INVALID_ARGUMENT",
                     b"wrong-type": "INVALID_ARGUMENT", b"unknown-version": "NOT_FOUND", None: "INVALID_ARGUMENT"}
    for key, (value, headers) in bad.items():
        m = errors[key]
        assert m.value() == value, "the errors record keeps the request's value"
        got = m.headers()
        assert all(h in got for h in headers), "and its headers"
        assert dict(got)["error-message"] and b":" in dict(got)["request-offset"]
    assert b"JSON Parse error" in dict(errors[b"malformed"].headers())["error-message"]
    # TF Serving leaves shapes to TensorFlow, whose refusal names the sizes that do not fit.
    assert b"size-incompatible" in dict(errors[b"wrong-shape"].headers())["error-message"]
    assert b"no key" in dict(errors[None].headers())["error-message"]


def test_a_model_server_restart_mid_stream_is_retried_and_nothing_goes_to_errors(topics, own_model_server, start_bridge, reader):
    stream = Stream(topics.requests, 6_000, rate=1_000)
    bridge = start_bridge(topics, own_model_server.target)
    bridge.wait_assigned()
    r = reader(topics.predictions, topics.errors)
    stream.start()
    _wait_for(r, topics.predictions, 1_000, timeout=60)
    own_model_server.stop(signal.SIGKILL)
    time.sleep(1)
    own_model_server.start(wait=False)  # loads the model again: several seconds of UNAVAILABLE
    stream.join()
    own_model_server.wait_available()
    r.until(6_000, timeout=90)
    assert r.records[topics.errors] == []
    check_exactly_once(r.records[topics.predictions], stream.sent)
    assert "transient error; retrying" in bridge.log()


def test_scaling_from_one_to_two_bridges_mid_stream_keeps_exactly_once(topics, model_server, start_bridge, reader):
    stream = Stream(topics.requests, 10_000, rate=1_000)
    first = start_bridge(topics, model_server.target, 0, "--max-poll-records", "50")
    first.wait_assigned()
    r = reader(topics.predictions, topics.errors)
    stream.start()
    _wait_for(r, topics.predictions, 1_000, timeout=60)
    second = start_bridge(topics, model_server.target, 1, "--max-poll-records", "50")
    second.wait_assigned()
    stream.join()
    r.until(10_000, timeout=90)
    assert r.records[topics.errors] == []
    check_exactly_once(r.records[topics.predictions], stream.sent)
    assert "revoked [" in first.log(), "the first bridge gave partitions up"
    answered_by = {dict(m.headers())["request-offset"].split(b":")[0] for m in r.records[topics.predictions]}
    assert len(answered_by) == 3


def test_maas_predict_over_rest_grpc_and_kafka(topics, model_server, start_bridge, tmp_path):
    import subprocess
    import sys

    from .conftest import KAFKA, MODEL, REPO

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({MODEL: {
        "rest": f"http://127.0.0.1:{model_server.rest_port}/v1/models/{MODEL}", "grpc": model_server.target,
        "topics": {"requests": topics.requests, "predictions": topics.predictions, "errors": topics.errors}}}))
    start_bridge(topics, model_server.target).wait_assigned()

    def predict(via: str, body: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "maas_iac.cli.main", "predict", MODEL, body, "--stack", topics.stack,
                               "--via", via, "--outputs", str(outputs), "--bootstrap-servers", KAFKA, "--timeout", "60", *extra],
                              cwd=REPO, capture_output=True, text=True, timeout=120)

    for via in ("rest", "grpc", "kafka"):
        done = predict(via, '{"instances": [[1.0], [4.0]]}')
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"predictions": [[2.5], [4.0]]}, via
        assert f"over {via if via != 'rest' else 'REST'}".lower() in done.stderr.lower()
    kafka = predict("kafka", '{"instances": [[1.0]]}', "--version", "1")
    assert "version 1" in kafka.stderr and "answered over Kafka" in kafka.stderr
    for via in ("rest", "grpc", "kafka"):
        wrong = predict(via, '{"instances": [[1.0, 2.0]]}')
        assert wrong.returncode == 2 and "refused the request" in wrong.stderr, (via, wrong.stderr)


def test_a_broker_restart_mid_stream_keeps_exactly_once(model_server, start_bridge, reader, tmp_path):
    """On a private broker this test owns (the shared one is never restarted)."""
    from confluent_kafka.admin import AdminClient

    from .conftest import Topics
    from .private_broker import PrivateBroker

    broker = PrivateBroker(tmp_path).start()
    try:
        topics = Topics(AdminClient({"bootstrap.servers": broker.bootstrap}))
        stream = Stream(topics.requests, 6_000, rate=500, bootstrap=broker.bootstrap)
        start_bridge(topics, model_server.target, bootstrap=broker.bootstrap).wait_assigned()
        r = reader(topics.predictions, topics.errors, bootstrap=broker.bootstrap)
        stream.start()
        _wait_for(r, topics.predictions, 1_000, timeout=60)
        broker.stop(kill=True)  # no controlled shutdown: open transactions stay open
        time.sleep(2)
        broker.start()
        stream.join()
        r.until(6_000, timeout=120)
        assert r.records[topics.errors] == []
        check_exactly_once(r.records[topics.predictions], stream.sent)
    finally:
        broker.stop()
