"""``tcp://`` Docker hosts come with TLS client certificates, and the key stays a secret."""

from __future__ import annotations

import pytest

from maas_iac.clients.endpoints import Connections, DockerEndpoint, DockerTlsFiles
from maas_iac.errors import StackConfigError
from maas_iac.spec import load_stack_config

BASE = {"registry": "registry.example.com", "kafka": {"bootstrapServers": "127.0.0.1:9092"}}
KEY = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n"


def test_files_or_pem_texts_reach_the_engine_endpoint() -> None:
    files = {"caFile": "~/.docker/ca.pem", "certFile": "~/.docker/cert.pem", "keyFile": "~/.docker/key.pem"}
    stack = load_stack_config({**BASE, "dockerHost": "tcp://docker-1.example.com:2376", "dockerTls": files},
                              stack="staging")
    assert Connections.from_stack(stack).docker == DockerEndpoint(
        host="tcp://docker-1.example.com:2376",
        tls=DockerTlsFiles(ca_file="~/.docker/ca.pem", cert_file="~/.docker/cert.pem", key_file="~/.docker/key.pem"),
        registry=Connections.from_stack(stack).registry)
    texts = {"ca": "CA PEM", "cert": "CERT PEM", "key": KEY}
    stack = load_stack_config({**BASE, "dockerHost": "tcp://10.0.0.5:2376", "dockerTls": texts}, stack="staging")
    tls = Connections.from_stack(stack).docker.tls
    assert (tls.ca, tls.cert, tls.key) == ("CA PEM", "CERT PEM", KEY)
    assert "c2VjcmV0" not in repr(Connections.from_stack(stack))


def test_the_key_travels_as_a_pulumi_secret() -> None:
    import pulumi

    props = DockerEndpoint(host="tcp://h:2376", tls=DockerTlsFiles(ca="C", cert="P", key=KEY)).to_props()
    assert isinstance(props["tls"]["key"], pulumi.Output)
    assert props["tls"]["ca"] == "C"


@pytest.mark.parametrize("host, tls", [
    ("tcp://docker-1.example.com:2376", None),                  # tcp without TLS
    ("tcp://docker-1.example.com", {"ca": "C", "cert": "P", "key": KEY}),  # no port
    ("tcp://user@docker-1.example.com:2376", {"ca": "C", "cert": "P", "key": KEY}),
    ("unix:///var/run/docker.sock", {"ca": "C", "cert": "P", "key": KEY}),  # TLS for a socket
    ("tcp://docker-1.example.com:2376", {"ca": "C", "cert": "P"}),          # no key
    ("tcp://docker-1.example.com:2376", {"caFile": "/a", "ca": "C", "cert": "P", "key": KEY}),  # both
])
def test_incomplete_or_misplaced_tls_is_refused(host: str, tls: dict | None) -> None:
    data = {**BASE, "dockerHost": host}
    if tls is not None:
        data["dockerTls"] = tls
    with pytest.raises(StackConfigError):
        load_stack_config(data, stack="staging")


def test_a_key_in_clear_in_the_stack_file_is_refused(tmp_path) -> None:
    from maas_iac.spec.stack import check_stack_file

    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(
        "config:\n"
        "  maas:registry: registry.example.com\n"
        "  maas:dockerHost: tcp://docker-1.example.com:2376\n"
        "  maas:dockerTls: {caFile: /ca.pem, certFile: /cert.pem, key: 'PEM KEY TEXT'}\n"
        "  maas:kafka:\n"
        "    bootstrapServers: 127.0.0.1:9092\n")
    _, problems, _ = check_stack_file(path, stack="staging", display=str(path))
    [problem] = problems
    assert problem.line == 4 and "clear text" in problem.message and "maas:dockerTls.key" in problem.fix
    assert "PEM KEY TEXT" not in str(problem)
