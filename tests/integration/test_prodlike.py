"""The production-shaped environment really is what stacks/Pulumi.prodlike.yaml says: a second
Docker engine reachable only over ssh (key only, host key pinned), a TLS registry with
authentication that engine pulls from, and the broker's SASL_SSL listener reachable from the
engine's network namespace.

Needs `scripts/services start --prodlike` (scripts/prodlike.sh); scripts/run_tests starts it
before these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.prodlike]

CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
PL = CACHE / "prodlike"
CA = CACHE / "pki" / "ca.crt"
NETNS = "maas-prodlike"
NS_IP = "10.213.0.2"
DOCKER_HOST = f"ssh://root@{NS_IP}"
REGISTRY = "10.213.0.1:5443"
REGISTRY_LOCAL = "127.0.0.1:5443"
REGISTRY_USER = "maas"
KAFKA_NS = "10.213.0.1:9094"
DEBIAN = "maas/debian:bookworm"
LABELS = {"maas.test": "test_prodlike"}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def ssh_path() -> Iterator[None]:
    """`ssh` resolves to the wrapper with the prodlike ssh_config, as `scripts/prodlike.sh env` sets it."""
    if not (PL / "bin" / "ssh").is_file():
        pytest.fail(f"{PL}/bin/ssh missing; run scripts/setup_services.sh", pytrace=False)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{PL / 'bin'}{os.pathsep}{old}"
    yield
    os.environ["PATH"] = old


@pytest.fixture(scope="module")
def engine(ssh_path: None) -> Iterator[docker.DockerClient]:
    try:
        client = docker.DockerClient(base_url=DOCKER_HOST, use_ssh_client=True, timeout=120)
        client.ping()
    except Exception as exc:
        pytest.fail(f"no engine answers on {DOCKER_HOST} ({exc}); run scripts/services start --prodlike", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="module")
def registry_password() -> str:
    return (PL / "registry.password").read_text().strip()


def _ssh(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(PL / "ssh_config"), *args], capture_output=True, text=True, timeout=60, **kwargs
    )


def test_the_engine_over_ssh_is_the_second_engine(engine: docker.DockerClient) -> None:
    info = engine.info()
    assert info["DockerRootDir"] == str(PL / "docker-data")
    first = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    try:
        assert first.info()["DockerRootDir"] != info["DockerRootDir"]
    finally:
        first.close()


def test_the_remote_docker_cli_talks_to_the_namespace_engine(ssh_path: None) -> None:
    # one string: ssh hands the command to the remote shell, which splits it
    out = _ssh(NS_IP, "docker info --format '{{json .DockerRootDir}}'")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == str(PL / "docker-data")
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    cli = subprocess.run(["docker", "info", "--format", "{{.DockerRootDir}}"], env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == str(PL / "docker-data")


def test_ssh_refuses_an_unknown_host_key(tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"{NS_IP} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    out = _ssh("-o", f"UserKnownHostsFile={known}", NS_IP, "true")
    assert out.returncode == 255
    assert "Host key verification failed" in out.stderr, out.stderr


def test_ssh_accepts_no_password_and_no_other_key(tmp_path: Path) -> None:
    out = _ssh("-o", "PubkeyAuthentication=no", "-o", "PasswordAuthentication=yes", NS_IP, "true")
    assert out.returncode == 255 and "Permission denied (publickey)" in out.stderr, out.stderr
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    # only that key: no ssh_config (which names the right one)
    out = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(other),
         "-o", f"UserKnownHostsFile={PL / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes", f"root@{NS_IP}", "true"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 255 and "Permission denied (publickey)" in out.stderr, out.stderr


def test_the_namespace_has_no_route_out() -> None:
    routes = subprocess.run(["ip", "-n", NETNS, "route", "show"], capture_output=True, text=True, check=True).stdout
    assert "default" not in routes, routes
    assert "10.213.0.0/30" in routes


def test_the_registry_wants_tls_and_a_password(registry_password: str, tmp_path: Path) -> None:
    def code(*args: str) -> str:
        return subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(CA), *args],
            capture_output=True, text=True, timeout=30,
        ).stdout

    assert code(f"https://{REGISTRY_LOCAL}/v2/") == "401"
    assert code(f"https://{REGISTRY}/v2/") == "401"
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {REGISTRY_USER} password {registry_password}\n")
    netrc.chmod(0o600)
    assert code("--netrc-file", str(netrc), f"https://{REGISTRY_LOCAL}/v2/") == "200"
    # without the CA the certificate is not trusted
    out = subprocess.run(["curl", "-sS", f"https://{REGISTRY_LOCAL}/v2/"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 60, out.stderr


@pytest.fixture
def debian_on_engine(engine: docker.DockerClient) -> docker.models.images.Image:
    """The locally built Debian image, copied from the first engine (the namespace has no way out)."""
    try:
        return engine.images.get(DEBIAN)
    except docker.errors.ImageNotFound:
        pass
    first = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=300)
    try:
        data = b"".join(first.api.get_image(DEBIAN))  # saved under this name, not its first tag
    except docker.errors.DockerException as exc:
        pytest.fail(f"{DEBIAN} not on the first engine ({exc}); run scripts/build_base_images.sh", pytrace=False)
    finally:
        first.close()
    (image,) = engine.images.load(data)
    return image


def test_the_engine_pushes_to_and_pulls_from_the_tls_registry(
    engine: docker.DockerClient, debian_on_engine: docker.models.images.Image, registry_password: str
) -> None:
    repo = f"{REGISTRY}/maas-test/{_unique('debian')}"
    auth = {"username": REGISTRY_USER, "password": registry_password}
    # the engine checks the credentials against the registry itself, over TLS with its CA
    assert engine.login(registry=REGISTRY, reauth=True, **auth)["Status"] == "Login Succeeded"
    with pytest.raises(docker.errors.APIError):
        engine.login(registry=REGISTRY, reauth=True, username=REGISTRY_USER, password="wrong")

    debian_on_engine.tag(repo, "1")
    try:
        lines = [json.loads(x) for x in engine.api.push(repo, "1", auth_config=auth, stream=False).splitlines()]
        assert not [x for x in lines if "error" in x], lines
        engine.images.remove(f"{repo}:1")
        with pytest.raises(docker.errors.APIError):
            engine.images.pull(repo, "1", auth_config={"username": REGISTRY_USER, "password": "wrong"})
        pulled = engine.images.pull(repo, "1", auth_config=auth)
        assert pulled.id == debian_on_engine.id
    finally:
        try:
            engine.images.remove(f"{repo}:1")
        except docker.errors.ImageNotFound:
            pass


def test_containers_reach_the_broker_and_the_registry_from_the_namespace(
    engine: docker.DockerClient, debian_on_engine: docker.models.images.Image
) -> None:
    script = "; ".join(
        f"(exec 3<>/dev/tcp/{addr.replace(':', '/')}) && echo {addr} open" for addr in (KAFKA_NS, REGISTRY)
    )
    out = engine.containers.run(DEBIAN, ["bash", "-c", script], remove=True, labels=LABELS).decode()
    assert f"{KAFKA_NS} open" in out and f"{REGISTRY} open" in out, out


def test_sasl_ssl_from_the_namespace_advertises_the_namespace_address() -> None:
    """A SASL_SSL client inside the namespace logs in as admin on 10.213.0.1:9094 and is told the
    same address for the broker, so it never tries the host's loopback."""
    code = (
        "import sys; from confluent_kafka.admin import AdminClient;"
        "c = AdminClient({'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_SSL',"
        " 'sasl.mechanism': 'SCRAM-SHA-512', 'sasl.username': 'admin',"
        " 'sasl.password': open(sys.argv[2]).read().strip(), 'ssl.ca.location': sys.argv[3]});"
        "md = c.list_topics(timeout=15); print(sorted(f'{b.host}:{b.port}' for b in md.brokers.values()))"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", NETNS, sys.executable, "-c", code, KAFKA_NS,
         str(CACHE / "secrets" / "kafka-admin.password"), str(CA)],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"['{KAFKA_NS}']"


def test_the_stack_user_may_use_prodlike_topics_only() -> None:
    """maas-prodlike (the stack's saslUsername) has prefixed ACLs on prodlike.* and nothing else."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({
        "bootstrap.servers": KAFKA_NS, "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "maas-prodlike", "sasl.password": (PL / "kafka.password").read_text().strip(),
        "ssl.ca.location": str(CA), "socket.timeout.ms": 10000,
    })
    mine, other = _unique("prodlike.maas-test"), _unique("local.maas-test")
    admin.create_topics([NewTopic(mine, num_partitions=1, replication_factor=1)])[mine].result(30)
    try:
        with pytest.raises(KafkaException) as info:
            admin.create_topics([NewTopic(other, num_partitions=1, replication_factor=1)])[other].result(30)
        assert info.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, info.value
    finally:
        admin.delete_topics([mine])[mine].result(30)
