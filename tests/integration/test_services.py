"""The local services really work: Docker engine, user-defined bridge DNS, the registry on
127.0.0.1:5000, the locally built base images and Kafka (KRaft) on 127.0.0.1:9092.

Needs `scripts/services start` and `scripts/build_base_images.sh` (both run by `make setup`).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.request
import uuid

import docker
import pytest
from polling import wait_until
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

REGISTRY = "127.0.0.1:5000"
KAFKA = "127.0.0.1:9092"
DEBIAN = "maas/debian:bookworm"
DEBIAN_PYTHON = "maas/debian-python:bookworm"
HAPROXY = "maas/haproxy:2.6"
LABELS = {"maas.test": "test_services"}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(f"no Docker engine answers ({exc}); run scripts/services start", pytrace=False)
    yield c
    c.close()


@pytest.fixture(scope="module")
def base_images(client):
    for ref in (DEBIAN, DEBIAN_PYTHON, HAPROXY):
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{ref} missing; run scripts/build_base_images.sh", pytrace=False)


@pytest.fixture
def network(client):
    net = client.networks.create(_unique("maas-test-net"), driver="bridge", labels=LABELS)
    containers: list = []
    yield net, containers
    for c in containers:
        try:
            c.remove(force=True)
        except docker.errors.NotFound:
            pass
    net.remove()


def _run(client, image, command, **kwargs) -> str:
    out = client.containers.run(image, command, remove=True, labels=LABELS, **kwargs)
    return out.decode().strip()


# ---------------------------------------------------------------- Docker engine


def test_engine_runs_a_container_from_the_local_debian_image(client, base_images):
    assert _run(client, DEBIAN, ["cat", "/etc/debian_version"]).startswith("12.")
    info = client.info()
    assert info["Driver"] in {"overlay2", "fuse-overlayfs", "vfs"}


def test_containers_resolve_each_other_by_alias_on_a_user_defined_bridge(client, base_images, network):
    net, containers = network
    for name, alias in (("a", "svc-a"), ("b", "svc-b")):
        c = client.containers.create(DEBIAN, ["sleep", "120"], name=_unique(f"maas-test-{name}"),
                                     labels=LABELS)
        containers.append(c)
        net.connect(c, aliases=[alias])
        c.start()
    ips = {}
    for c in containers:
        c.reload()
        ips[c] = c.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
    a, b = containers
    for source, alias, target in ((a, "svc-b", b), (b, "svc-a", a)):
        # getent goes through the resolver that Docker's embedded DNS (127.0.0.11) answers
        rc, out = source.exec_run(["getent", "hosts", alias])
        assert rc == 0, out.decode()
        assert out.decode().split()[0] == ips[target]
    rc, out = a.exec_run(["cat", "/etc/resolv.conf"])
    assert "nameserver 127.0.0.11" in out.decode()


def test_debian_python_image_runs_python_under_tini(client, base_images):
    out = _run(client, DEBIAN_PYTHON,
               ["python3", "-c", "import ssl,sys; print(sys.version_info[:2] >= (3, 11)); "
                "print(open('/proc/1/cmdline').read().split(chr(0))[0])"])
    assert out.splitlines() == ["True", "/usr/bin/tini"]


def test_haproxy_image_serves_and_stops_gracefully(client, base_images, network):
    net, containers = network
    assert "version 2.6." in _run(client, HAPROXY, ["-v"])
    router = client.containers.create(HAPROXY, name=_unique("maas-test-haproxy"), labels=LABELS)
    containers.append(router)
    net.connect(router, aliases=["router"])
    router.start()
    probe = ("import time,urllib.request\n"
             "for _ in range(50):\n"
             "    try:\n"
             "        print(urllib.request.urlopen('http://router:8404/healthz', timeout=2).read().decode().strip()); break\n"
             "    except OSError: time.sleep(0.2)\n")
    out = _run(client, DEBIAN_PYTHON, ["python3", "-c", probe], network=net.name)
    assert out == "ok"
    # STOPSIGNAL SIGUSR1 + tini: a soft stop, well within the grace period
    start = time.monotonic()
    router.stop(timeout=20)
    assert time.monotonic() - start < 10
    router.reload()
    assert router.attrs["State"]["ExitCode"] in (0, 143), router.logs().decode()[-500:]


# ---------------------------------------------------------------- registry


def _registry(path: str, method: str = "GET", headers: dict | None = None):
    req = urllib.request.Request(f"http://{REGISTRY}{path}", method=method, headers=headers or {})
    return urllib.request.urlopen(req, timeout=10)


def test_engine_may_use_the_loopback_registry_over_plain_http(client):
    assert _registry("/v2/").status == 200
    assert "127.0.0.0/8" in client.info()["RegistryConfig"]["InsecureRegistryCIDRs"]


def test_push_and_pull_through_the_local_registry(client):
    # a one-file image with unique content, so the push really sends a new layer
    marker = uuid.uuid4().hex
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = marker.encode()
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repo, tag = f"{REGISTRY}/maas-test/tiny", marker[:12]
    ref = f"{repo}:{tag}"
    client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
    local_id = client.images.get(ref).id
    try:
        for line in client.images.push(repo, tag=tag, stream=True, decode=True):
            assert "error" not in line, line
        assert tag in json.load(_registry("/v2/maas-test/tiny/tags/list"))["tags"]
        client.images.remove(ref, force=True)
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(ref)
        pulled = client.images.pull(repo, tag=tag)
        assert pulled.id == local_id
    finally:
        try:
            client.images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            pass
        accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
        try:
            digest = _registry(f"/v2/maas-test/tiny/manifests/{tag}", "HEAD", accept).headers[
                "Docker-Content-Digest"]
            _registry(f"/v2/maas-test/tiny/manifests/{digest}", "DELETE")
        except OSError:
            pass


def test_base_images_are_in_the_local_registry():
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    for ref in (DEBIAN, DEBIAN_PYTHON, HAPROXY):
        name, tag = ref.split(":")
        assert _registry(f"/v2/{name}/manifests/{tag}", "HEAD", accept).status == 200, ref


# ---------------------------------------------------------------- Kafka


@pytest.fixture(scope="module")
def admin():
    a = AdminClient({"bootstrap.servers": KAFKA, "socket.timeout.ms": 10000})
    try:
        a.list_topics(timeout=10)
    except KafkaException as exc:  # pragma: no cover
        pytest.fail(f"Kafka does not answer on {KAFKA} ({exc}); run scripts/services start", pytrace=False)
    return a


@pytest.fixture
def topic(admin):
    name = _unique("maas-test.topic")
    futures = admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1,
                                            config={"cleanup.policy": "delete"})])
    futures[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def _wait_for(predicate, what: str, timeout=15.0):
    return wait_until(predicate, timeout, what, interval=0.2)


def test_kafka_admin_creates_lists_and_deletes_a_topic(admin):
    name = _unique("maas-test.admin")
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    assert _wait_for(lambda: name in admin.list_topics(timeout=10).topics, f"{name} to be listed")
    assert len(admin.list_topics(topic=name, timeout=10).topics[name].partitions) == 3
    admin.delete_topics([name])[name].result(timeout=30)
    assert _wait_for(lambda: name not in admin.list_topics(timeout=10).topics, f"{name} to be no longer listed")


def test_kafka_produce_consume_round_trip(topic):
    delivered = []
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True})
    sent = {f"key-{i}": f"value-{i}-{uuid.uuid4().hex}" for i in range(5)}
    for k, v in sent.items():
        producer.produce(topic, key=k, value=v,
                         on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(30) == 0
    assert len(delivered) == len(sent) and all(err is None for err, _ in delivered)

    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": _unique("maas-test-group"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    received = {}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received[msg.key().decode()] = msg.value().decode()
    finally:
        consumer.close()
    assert received == sent
