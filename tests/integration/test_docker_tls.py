"""A ``tcp://`` Docker host with TLS client certificates: the local engine behind a TLS endpoint
that demands a client certificate of its CA (socat, as dockerd's own ``--tlsverify`` would),
reached with the stack's certificates as files and as PEM texts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import free_port, wait_listening

from maas_iac.clients.docker import open_docker
from maas_iac.clients.endpoints import DockerEndpoint, DockerTlsFiles

pytestmark = pytest.mark.integration


def _pem_pair(name: str, issuer=None, ip: str | None = None, client: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=issuer is None, crl_sign=issuer is None,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key, cert, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(tcp:// address, directory of ca.pem, cert.pem, key.pem and other-ca.pem)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed; run make setup", pytrace=False)
    root = tmp_path_factory.mktemp("docker-tls")
    ca_key, ca_cert, ca_pem, _ = _pem_pair("maas test engine CA")
    _, _, server_pem, server_key = _pem_pair("engine", issuer=(ca_key, ca_cert), ip="127.0.0.1")
    _, _, client_pem, client_key = _pem_pair("operator", issuer=(ca_key, ca_cert), client=True)
    _, _, other_ca_pem, _ = _pem_pair("another CA")
    for name, text in (("ca.pem", ca_pem), ("server.pem", server_pem), ("server.key", server_key),
                       ("cert.pem", client_pem), ("key.pem", client_key), ("other-ca.pem", other_ca_pem)):
        (root / name).write_text(text)
    port = free_port()
    process = subprocess.Popen([
        socat, f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={root / 'server.pem'},"
               f"key={root / 'server.key'},cafile={root / 'ca.pem'},verify=1",
        "UNIX-CONNECT:/var/run/docker.sock"], stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process, "socat")
        yield f"tcp://127.0.0.1:{port}", root
    finally:
        process.terminate()
        process.wait(10)


def test_the_engine_answers_with_the_client_certificate_from_files(tls_engine) -> None:
    host, certs = tls_engine
    endpoint = DockerEndpoint(host=host, tls=DockerTlsFiles(
        ca_file=str(certs / "ca.pem"), cert_file=str(certs / "cert.pem"), key_file=str(certs / "key.pem")))
    client = open_docker(endpoint, timeout_s=30)
    try:
        assert client.ping() is True
        assert client.version()["ApiVersion"]
    finally:
        client.close()


def test_the_certificates_as_pem_texts_work_and_leave_no_file_behind(tls_engine) -> None:
    import gc

    host, certs = tls_engine
    endpoint = DockerEndpoint(host=host, tls=DockerTlsFiles(
        ca=(certs / "ca.pem").read_text(), cert=(certs / "cert.pem").read_text(), key=(certs / "key.pem").read_text()))
    client = open_docker(endpoint, timeout_s=30)
    scratch = Path(client.api.cert[1]).parent
    assert (scratch / "key.pem").stat().st_mode & 0o077 == 0, "the key file is the user's only"
    assert client.ping() is True
    client.close()
    del client
    gc.collect()
    assert not scratch.exists()


def test_no_client_certificate_or_another_ca_gets_nothing(tls_engine) -> None:
    import docker
    import requests

    host, certs = tls_engine
    untrusting = DockerEndpoint(host=host, tls=DockerTlsFiles(
        ca_file=str(certs / "other-ca.pem"), cert_file=str(certs / "cert.pem"), key_file=str(certs / "key.pem")))
    with pytest.raises((docker.errors.DockerException, requests.exceptions.SSLError)):
        open_docker(untrusting, timeout_s=10).ping()
    # a client without a certificate is turned away by the engine's side
    with pytest.raises((docker.errors.DockerException, requests.exceptions.RequestException)):
        docker.DockerClient(base_url=host, timeout=10,
                            tls=docker.tls.TLSConfig(ca_cert=str(certs / "ca.pem"), verify=True)).ping()
