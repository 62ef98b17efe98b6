"""maas drift's runtime checks against the real broker and the real Docker engine.

Each test makes its own topics and containers under a unique name and removes them; the
state the checks compare with is a :class:`StateView` written here, as the exported
deployment would hold it.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from polling import wait_until

from maas_iac.clients.kafka import group_lag
from maas_iac.drift.runtime import StateView, check_bridge_groups, check_containers, check_topics

pytestmark = pytest.mark.integration

DEBIAN = "maas/debian:bookworm"
KAFKA = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


@pytest.fixture
def unique() -> str:
    return f"dr{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(kafka_admin, unique):
    """A real topic ``<unique>.m.requests``: 2 partitions, retention.ms 1000."""
    from confluent_kafka.admin import NewTopic

    name = f"{unique}.m.requests"
    kafka_admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1,
                                        config={"retention.ms": "1000"})])[name].result(timeout=30)
    yield name
    kafka_admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def _state(name: str, **changes) -> dict:
    return {"name": name, "partitions": 2.0, "replication_factor": 1.0, "config": {"retention.ms": "1000"}, **changes}


def test_a_topic_as_declared_is_no_finding(kafka_admin, topic) -> None:
    assert check_topics(kafka_admin, [_state(topic)]) == []
    # Broker defaults of undeclared keys are never drift.
    assert check_topics(kafka_admin, [_state(topic, config={})]) == []
    assert check_topics(kafka_admin, []) == []


def test_each_topic_difference_is_named(kafka_admin, topic) -> None:
    [finding] = check_topics(kafka_admin, [_state(topic, partitions=3.0, replication_factor=3.0,
                                                  config={"retention.ms": "604800000", "cleanup.policy": "compact"})])
    assert (finding.kind, finding.name, finding.model) == ("topic", topic, "m")
    assert finding.problems == (
        "2 partitions, the state says 3",
        "replication factor 1, the state says 3",
        "cleanup.policy is delete, declared compact",
        "retention.ms is 1000, declared 604800000",
    )


def test_a_deleted_topic_is_gone(kafka_admin, unique) -> None:
    name = f"{unique}.m.predictions"
    [finding] = check_topics(kafka_admin, [_state(name)])
    assert (finding.name, finding.problems, finding.model) == (name, ("topic is gone from the broker",), "m")


@pytest.fixture
def containers(docker_client, unique):
    """Containers made by the test, removed afterwards."""
    made = []

    def run(name: str, labels: dict[str, str], running: bool = True, image: str = DEBIAN):
        c = docker_client.containers.create(image, ["sleep", "infinity"], name=f"{unique}-{name}", labels=labels)
        made.append(c)
        if running:
            c.start()
        c.reload()
        return c

    yield run
    for c in made:
        c.remove(force=True)


def _outputs(container, image: str) -> dict:
    return {"name": container.name, "container_id": container.id, "image": image,
            "labels": dict(container.labels)}


def test_container_checks(docker_client, containers, unique) -> None:
    labels = {"maas.stack": unique, "maas.model": "m"}
    image = docker_client.images.get(DEBIAN)
    [pinned] = [d for d in image.attrs["RepoDigests"] if d.startswith("127.0.0.1:5000/")][:1]
    # As the program runs replicas: by the repo digest the state records.
    healthy = containers("replica-ok", labels, image=pinned)
    by_tag = containers("replica-tag", labels)
    stopped = containers("replica-stopped", labels, running=False)
    router = containers("router", {**labels, "maas.role": "router"})
    stray = containers("stray", labels)
    view = StateView(
        replicas=[_outputs(healthy, pinned), _outputs(by_tag, pinned), _outputs(stopped, pinned),
                  {"name": f"{unique}-gone", "container_id": "0" * 64, "image": pinned, "labels": labels}],
        routers=[_outputs(router, DEBIAN)],
    )
    findings, checked = check_containers(docker_client, view, unique)
    assert checked == 5
    assert {f.model for f in findings} == {"m"}
    problems = {f.name: f.problems for f in findings}
    assert problems == {
        f"{unique}-gone": ("container is gone",),
        stopped.name: ("container is not running (created, exit code 0)",),
        by_tag.name: (f"runs image {DEBIAN}, the state says {pinned}",),
        stray.name: (f"labelled maas.stack={unique} but not in the stack's state (running)",),
    }
    assert {f.kind for f in findings if f.name == stray.name} == {"container"}


def test_a_configured_image_whose_digest_is_not_the_recorded_one(docker_client, containers, unique) -> None:
    # The container was configured with the tag the state names, but the image behind it has
    # no such repo digest: named with the image id and the digests it has.
    c = containers("replica", {"maas.stack": unique, "maas.model": "m"})
    image = docker_client.images.get(DEBIAN)
    [f] = check_containers(docker_client, StateView(replicas=[_outputs(c, DEBIAN)]), unique)[0]
    assert f.problems == (f"runs image {image.id[:19]} (digests: {', '.join(image.attrs['RepoDigests'])}), "
                          f"not {DEBIAN}",)


def test_a_stopped_router_is_named(docker_client, containers, unique) -> None:
    router = containers("router", {"maas.stack": unique, "maas.model": "m", "maas.role": "router"})
    router.stop(timeout=0)
    findings, checked = check_containers(docker_client, StateView(routers=[_outputs(router, DEBIAN)]), unique)
    assert checked == 1
    [f] = findings
    assert (f.kind, f.name, f.model) == ("router", router.name, "m")
    assert f.problems[0].startswith("container is not running (exited, exit code")


# A stand-in for the model server's REST status, inside its own container (the drift check
# asks it through `docker exec` and the data plane's probe, as on a remote engine).
STATUS_SERVER = """
import http.server, os
body = os.environ["STATUS"].encode()
class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8501), Status).serve_forever()
"""
DEBIAN_PYTHON = "maas/debian-python:bookworm"


def test_served_versions_are_compared_with_what_the_model_server_reports(docker_client, unique) -> None:
    from maas_dataplane.probe import status_command

    status = {"model_version_status": [{"version": "2", "state": "AVAILABLE"}, {"version": "1", "state": "AVAILABLE"},
                                       {"version": "3", "state": "LOADING"}]}
    image = docker_client.images.get(DEBIAN_PYTHON)
    [pinned] = [d for d in image.attrs["RepoDigests"] if d.startswith("127.0.0.1:5000/")][:1]
    labels = {"maas.stack": unique, "maas.model": "m"}
    server = docker_client.containers.run(pinned, ["python3", "-c", STATUS_SERVER], name=f"{unique}-replica",
                                          labels=labels, environment={"STATUS": json.dumps(status)}, detach=True)
    silent = docker_client.containers.run(pinned, ["sleep", "infinity"], name=f"{unique}-silent", labels=labels,
                                          detach=True)
    try:
        wait_until(lambda: server.exec_run(status_command("m")).exit_code == 0, 30, "the status stand-in to answer",
                   details=lambda: server.logs().decode(errors="replace"))
        replica = _outputs(server, pinned)
        as_served = StateView(replicas=[replica], served={"m": (1, 2)}, routers=[_outputs(silent, pinned)])
        assert check_containers(docker_client, as_served, unique) == ([], 2)
        behind = StateView(replicas=[replica], served={"m": (1,)}, routers=[_outputs(silent, pinned)])
        [f] = check_containers(docker_client, behind, unique)[0]
        assert (f.kind, f.name, f.model) == ("replica", server.name, "m")
        assert f.problems == ("model server reports AVAILABLE versions [1, 2], the state serves [1]",)
        mute = StateView(replicas=[_outputs(silent, pinned)], served={"m": (1,)}, routers=[replica])
        [f] = check_containers(docker_client, mute, unique)[0]
        assert f.name == silent.name and f.problems[0].startswith("model server does not answer its REST status (")
    finally:
        server.remove(force=True)
        silent.remove(force=True)



# -- bridge consumer groups ----------------------------------------------------------------------


def _produce(topic: str, per_partition: dict[int, int]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": KAFKA})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, key=f"r{i}".encode(), value=b"{}", partition=partition)
    assert producer.flush(30) == 0


def _bridge_state(model: str, count: int) -> StateView:
    return StateView(bridges=[{"name": f"b{i}", "labels": {"maas.model": model, "maas.role": "bridge"}}
                              for i in range(count)])


def test_a_bridge_group_without_members_is_drift_and_its_lag_is_counted(kafka_admin, topic, unique) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    _produce(topic, {0: 6, 1: 4})
    group = f"{unique}.m.bridge"
    # Offsets committed as a bridge's transaction would leave them, by a client that then leaves.
    committer = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "enable.auto.commit": False})
    offsets = [TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 4)]
    # NOT_COORDINATOR is retriable: a fresh broker may still be creating __consumer_offsets.
    wait_until(lambda: committer.commit(offsets=offsets, asynchronous=False), 30, "the offsets committed",
               ignore=(KafkaException,))
    committer.close()

    lag = group_lag(kafka_admin, group, topic)
    assert (lag.members, lag.state, lag.partitions, lag.lag) == (0, "empty", ((0, 2, 6), (1, 4, 4)), 4)
    findings, groups = check_bridge_groups(kafka_admin, _bridge_state("m", 1), unique)
    assert groups == [lag]
    [finding] = findings
    assert (finding.kind, finding.name, finding.model) == ("bridge", group, "m")
    assert "0 of 1 members" in finding.problems[0] and "4 requests wait" in finding.problems[0]

    # A member that has joined: as many members as bridge containers is no drift; the lag stays.
    member = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "enable.auto.commit": False,
                       "session.timeout.ms": 6000})
    member.subscribe([topic])
    try:
        wait_until(lambda: (member.poll(0.2), member.assignment())[1], 30, "the member's assignment")
        findings, [joined] = check_bridge_groups(kafka_admin, _bridge_state("m", 1), unique)
        assert findings == [] and (joined.members, joined.state) == (1, "stable")
        # Two containers in the state but one member: one of them consumes nothing.
        [short] = check_bridge_groups(kafka_admin, _bridge_state("m", 2), unique)[0]
        assert "1 of 2 members" in short.problems[0]
    finally:
        member.close()


def test_a_group_that_never_committed_lags_by_the_whole_topic(kafka_admin, topic, unique) -> None:
    _produce(topic, {0: 3, 1: 2})
    lag = group_lag(kafka_admin, f"{unique}.m.bridge", topic)
    assert (lag.members, lag.state, lag.lag) == (0, "dead", 5)
    assert lag.describe() == f"group {unique}.m.bridge: 0 members (dead), lag 5"
