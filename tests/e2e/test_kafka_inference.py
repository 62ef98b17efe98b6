"""Inference over Kafka through the containers the stack deploys: the model's bridge, its
router and its replicas, all created by `pulumi up`, on a real broker.

The stack's cluster is a broker of this module's own (tests/bridge/private_broker.py, the
same Kafka jars as the shared one), so that the last scenario can kill and restart it under
the deployed bridge without touching the shared broker other tests use.

Every count is read back with read_committed from the predictions and errors topics'
beginning, so an answer counted is a committed answer.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from bridge.conftest import Reader, Stream, produce_requests
from bridge.private_broker import PrivateBroker
from polling import wait_until

from maas_iac.automation import engine_env, scratch_project, select_stack

from .conftest import STACK_CONFIG, E2EStack, ExampleModels, clean_leftovers, owned

pytestmark = pytest.mark.integration

NAME = "kafka-e2e"
PORT_OFFSET = 2100


def _y(x: float, intercept: float) -> float:
    return x / 2 + intercept


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path_factory.mktemp("kafka-e2e-broker")).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def kstack(tmp_path_factory, docker_client, broker: PrivateBroker, registry) -> Iterator[E2EStack]:
    from confluent_kafka.admin import AdminClient

    root = tmp_path_factory.mktemp("kafka-e2e")
    repo = ExampleModels(root / "example-models")
    config = {**STACK_CONFIG, "maas:portOffset": PORT_OFFSET, "maas:network": "maas-kafka-e2e",
              "maas:kafka": {"bootstrapServers": broker.bootstrap}}
    project = scratch_project(root / "project", NAME, config, {})
    extra = {"PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state", "MAAS_CACHE": str(root / "cache")}
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000})
    clean_leftovers(docker_client, admin, NAME)
    stack = select_stack(NAME, project, env=extra)
    e2e = E2EStack(project=project, repo=repo, stack=stack, docker=docker_client, admin=admin,
                   env=engine_env(project, extra, stack=NAME), name=NAME, port_offset=PORT_OFFSET,
                   kafka_config={"bootstrap.servers": broker.bootstrap})
    with owned(e2e):
        e2e.set_model("hpt", ref="v1", replicas=1, partitions=3)
        e2e.up()
        yield e2e


@pytest.fixture
def answers(kstack: E2EStack) -> Iterator[Reader]:
    reader = Reader(f"{NAME}.hpt.predictions", ERRORS, bootstrap=kstack.bootstrap)
    yield reader
    reader.close()


REQUESTS, PREDICTIONS, ERRORS = (f"{NAME}.hpt.{kind}" for kind in ("requests", "predictions", "errors"))


def _predictions(reader: Reader, prefix: str) -> list:
    return [m for m in reader.records[PREDICTIONS] if m.key() and m.key().startswith(prefix.encode())]


def _until(reader: Reader, prefix: str, n: int, timeout: float, settle: float = 3.0) -> list:
    """This test's answers (keys ``prefix…``), once ``n`` arrived and ``settle`` s more (so a
    duplicate would show)."""
    deadline = time.monotonic() + timeout
    while len(_predictions(reader, prefix)) < n and time.monotonic() < deadline:
        reader.poll(0.5)
    reader.poll(settle)
    return _predictions(reader, prefix)


def _exactly_once(records: list, sent: dict[bytes, float], intercepts: set[float]) -> dict[str, int]:
    """Every key once, every value one of the versions' answers; the count of answers per
    version that answered."""
    keys = [m.key() for m in records]
    dupes, missing = len(keys) - len(set(keys)), set(sent) - set(keys)
    assert dupes == 0 and not missing, f"{len(keys)} answers for {len(sent)} requests: {dupes} duplicates, {len(missing)} missing"
    versions: dict[str, int] = {}
    wrong = []
    for m in records:
        y = json.loads(m.value())["predictions"][0][0]
        if not any(abs(y - _y(sent[m.key()], b)) < 1e-4 for b in intercepts):
            wrong.append((m.key(), sent[m.key()], y))
        version = dict(m.headers())["model-version"].decode()
        versions[version] = versions.get(version, 0) + 1
    assert not wrong, f"{len(wrong)} wrong values, e.g. {wrong[:3]}"
    return versions


def _bridges(kstack: E2EStack) -> list:
    return kstack.containers(**{"maas.model": "hpt", "maas.role": "bridge"})


def test_1_ten_thousand_requests_get_ten_thousand_predictions(kstack: E2EStack, answers: Reader) -> None:
    start = time.monotonic()
    sent = produce_requests(REQUESTS, 0, 10_000, prefix="a", bootstrap=kstack.bootstrap)
    records = _until(answers, "a-", 10_000, timeout=180)
    took = time.monotonic() - start
    assert _exactly_once(records, sent, {2.0}) == {"1": 10_000}
    headers = dict(records[0].headers())
    assert headers["git-sha"].decode() == kstack.repo.sha("v1")
    assert headers["model"] == b"hpt" and headers["model-digest"] and b":" in headers["request-offset"]
    assert answers.records[ERRORS] == []
    print(f"10,000 requests through the deployed bridge in {took:.1f}s ({10_000 / took:.0f}/s)")


def test_2_a_bridge_container_killed_mid_stream_restarts_and_answers_exactly_once(kstack: E2EStack,
                                                                                    answers: Reader) -> None:
    [bridge] = _bridges(kstack)
    stream = Stream(REQUESTS, 6_000, rate=400, prefix="k", bootstrap=kstack.bootstrap)
    stream.start()
    _until(answers, "k-", 1_000, timeout=60, settle=0)
    os.kill(bridge.attrs["State"]["Pid"], signal.SIGKILL)  # the process dies: no clean shutdown
    wait_until(lambda: (bridge.reload(), bridge.attrs["RestartCount"] >= 1 and bridge.status == "running")[1], 60,
               "Docker to restart the bridge")
    stream.join()
    assert _exactly_once(_until(answers, "k-", len(stream.sent), timeout=180), stream.sent, {2.0}) == {"1": 6_000}
    assert answers.records[ERRORS] == []


def test_3_a_rollout_under_kafka_load_loses_nothing_and_switches_the_version(kstack: E2EStack,
                                                                             answers: Reader) -> None:
    kstack.set_model("hpt", ref="v2")  # serves version 2 (y = x/2 + 3)
    stream = Stream(REQUESTS, 100_000, rate=100, prefix="u", bootstrap=kstack.bootstrap)  # through the whole rollout
    stream.start()
    try:
        kstack.up()
        time.sleep(5)  # and on past it
    finally:
        stream.stopping.set()
        stream.join()
    tail = produce_requests(REQUESTS, 0, 500, prefix="v", bootstrap=kstack.bootstrap)  # after the rollout: the new version only
    versions = _exactly_once(_until(answers, "u-", len(stream.sent), timeout=180), stream.sent, {2.0, 3.0})
    assert set(versions) == {"1", "2"}, f"the version header switches mid-stream: {versions}"
    assert _exactly_once(_until(answers, "v-", len(tail), timeout=60), tail, {3.0}) == {"2": 500}
    assert answers.records[ERRORS] == []
    print(f"rollout v1 -> v2 under Kafka load: answers per version {versions}")


def test_4_requests_that_can_never_succeed_go_to_errors_while_the_rest_flow_on(kstack: E2EStack,
                                                                              answers: Reader) -> None:
    from confluent_kafka import Producer

    before = produce_requests(REQUESTS, 0, 300, prefix="b", bootstrap=kstack.bootstrap)
    producer = Producer({"bootstrap.servers": kstack.bootstrap})
    bad = {b"e-malformed": b'{"instances": [[1.0]', b"e-wrong-shape": json.dumps({"instances": [[1.0, 2.0]]}).encode()}
    for key, value in bad.items():
        producer.produce(REQUESTS, key=key, value=value, headers=[("content-type", b"application/json")])
    assert producer.flush(30) == 0
    after = produce_requests(REQUESTS, 300, 300, prefix="c", bootstrap=kstack.bootstrap)
    _exactly_once(_until(answers, "b-", 300, 60) + _until(answers, "c-", 300, 60), {**before, **after}, {3.0})
    errors = {m.key(): dict(m.headers()) for m in answers.records[ERRORS]}
    assert set(errors) == set(bad)
    assert errors[b"e-malformed"]["error-code"] == b"INVALID_ARGUMENT"
    assert b"JSON Parse error" in errors[b"e-malformed"]["error-message"]
    assert errors[b"e-wrong-shape"]["error-code"] == b"INVALID_ARGUMENT"
    assert b"size-incompatible" in errors[b"e-wrong-shape"]["error-message"]


def test_5_a_broker_restart_mid_stream_resumes_and_keeps_exactly_once(kstack: E2EStack, broker: PrivateBroker,
                                                                      answers: Reader) -> None:
    [bridge] = _bridges(kstack)
    restarts = bridge.attrs["RestartCount"]
    stream = Stream(REQUESTS, 6_000, rate=300, prefix="r", bootstrap=kstack.bootstrap)
    stream.start()
    _until(answers, "r-", 1_000, timeout=60, settle=0)
    down = time.monotonic()
    broker.stop(kill=True)  # no controlled shutdown: the bridge's open transaction stays open
    try:
        time.sleep(3)
    finally:
        broker.start()
    back = time.monotonic() - down
    stream.join()
    records = _until(answers, "r-", len(stream.sent), timeout=240)
    assert _exactly_once(records, stream.sent, {3.0}) == {"2": 6_000}
    assert [m.key() for m in answers.records[ERRORS] if m.key().startswith(b"r-")] == []
    bridge.reload()
    print(f"broker killed after 1,000 answers and back after {back:.1f}s: 6,000 answered exactly once; "
          f"the bridge container restarted {bridge.attrs['RestartCount'] - restarts} time(s)")


def test_6_scaling_the_bridge_up_and_down_mid_stream_keeps_exactly_once(kstack: E2EStack, answers: Reader) -> None:
    stream = Stream(REQUESTS, 100_000, rate=200, prefix="s", bootstrap=kstack.bootstrap)
    stream.start()
    try:
        _until(answers, "s-", 200, timeout=60, settle=0)
        kstack.set_model("hpt", consumers=2)  # the group rebalances onto two bridges
        kstack.up()
        assert len(_bridges(kstack)) == 2
        grew = len(_predictions(answers, "s-"))
        _until(answers, "s-", grew + 400, timeout=60, settle=0)
        kstack.set_model("hpt", consumers=1)  # and back onto one
        kstack.up()
        assert len(_bridges(kstack)) == 1
        shrank = len(_predictions(answers, "s-"))
        _until(answers, "s-", shrank + 400, timeout=60, settle=0)
    finally:
        stream.stopping.set()
        stream.join()
    versions = _exactly_once(_until(answers, "s-", len(stream.sent), timeout=180), stream.sent, {3.0})
    assert versions == {"2": len(stream.sent)}
    assert [m.key() for m in answers.records[ERRORS] if m.key().startswith(b"s-")] == []
    print(f"bridge scaled 1 -> 2 -> 1 under a stream: {len(stream.sent)} requests answered exactly once")
