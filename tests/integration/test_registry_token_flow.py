"""The registry client against a real registry (Debian's docker-registry, the CNCF
distribution) that wants a login through the Docker Registry v2 token flow, over TLS.

The registry sends clients to a token service (``WWW-Authenticate: Bearer realm=…``); the
token service here is the test's own: it checks a user's password and issues the JWT that the
registry verifies against its ``rootcertbundle``, as the token specification describes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from polling import free_port, wait_listening

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import RegistryClient, manifest_digest
from maas_iac.errors import RegistryError

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "token-flow-password"
SERVICE, ISSUER = "maas-test-registry", "maas-test-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed(name: str, ip: str | None = None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return key, builder.sign(key, hashes.SHA256())


class TokenService(ThreadingHTTPServer):
    """Issues ES256 JWTs for the scopes asked, to USER with PASSWORD only; counts its calls."""

    def __init__(self, key, cert) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.key, self.cert, self.issued = key, cert, 0

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        self.issued += 1
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class _TokenHandler(BaseHTTPRequestHandler):
    server: TokenService

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.headers.get("Authorization") != expected or query.get("service") != [SERVICE]:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": self.server.token(query.get("scope", [""])[0])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory) -> Iterator[tuple[str, Path, TokenService]]:
    """(address, CA file, token service) of a TLS registry with token authentication."""
    from cryptography.hazmat.primitives import serialization

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed; run make setup", pytrace=False)
    root = tmp_path_factory.mktemp("token-registry")
    signing_key, signing_cert = _self_signed("maas test token issuer")
    tls_key, tls_cert = _self_signed("127.0.0.1", ip="127.0.0.1")
    pem = serialization.Encoding.PEM
    (root / "signing.crt").write_bytes(signing_cert.public_bytes(pem))
    (root / "tls.crt").write_bytes(tls_cert.public_bytes(pem))
    (root / "tls.key").write_bytes(tls_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    tokens = TokenService(signing_key, signing_cert)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    port = free_port()
    (root / "config.yml").write_text(json.dumps({
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(root / "tls.crt"), "key": str(root / "tls.key")}},
        "auth": {"token": {"realm": f"http://127.0.0.1:{tokens.server_address[1]}/token", "service": SERVICE,
                           "issuer": ISSUER, "rootcertbundle": str(root / "signing.crt")}},
    }))
    with open(root / "registry.log", "wb") as log:
        process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, "docker-registry", details=(root / "registry.log").read_text)
        yield f"127.0.0.1:{port}", root / "tls.crt", tokens
    finally:
        process.terminate()
        process.wait(10)
        tokens.shutdown()


def _push_blob(client: RegistryClient, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    scope = f"repository:{repository}:pull,push"
    with client.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope, body=b"") as started:
        location = urllib.parse.urljoin(client._base + "/", started.headers["Location"])
    separator = "&" if "?" in location else "?"
    with client.request("PUT", "", url=f"{location}{separator}digest={digest}", scope=scope, body=data,
                        headers={"Content-Type": "application/octet-stream"}):
        pass
    return digest


def test_the_token_flow_reads_and_writes_with_the_stack_login(token_registry) -> None:
    address, ca, tokens = token_registry
    endpoint = RegistryEndpoint(address=address, username=USER, password=PASSWORD, ca_file=str(ca))
    assert manifest_digest(endpoint, "maas/token-flow", "none") is None  # asked with a token, answered 404
    assert tokens.issued >= 1

    client = RegistryClient(endpoint)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = _push_blob(client, "maas/token-flow", config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [],
    }).encode()
    with client.request("PUT", "/v2/maas/token-flow/manifests/v1", scope="repository:maas/token-flow:pull,push",
                        body=manifest, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}):
        pass
    assert manifest_digest(endpoint, "maas/token-flow", "v1") == "sha256:" + hashlib.sha256(manifest).hexdigest()


def test_a_refused_or_missing_login_names_the_registry_and_what_to_set(token_registry) -> None:
    address, ca, _ = token_registry
    with pytest.raises(RegistryError) as refused:
        manifest_digest(RegistryEndpoint(address=address, username=USER, password="wrong", ca_file=str(ca)),
                        "maas/token-flow", "v1")
    assert f"registry {address} refused the login of user 'robot'" in str(refused.value)
    assert "wrong" not in str(refused.value)
    with pytest.raises(RegistryError) as anonymous:
        manifest_digest(RegistryEndpoint(address=address, ca_file=str(ca)), "maas/token-flow", "v1")
    assert f"registry {address} wants a login" in str(anonymous.value) and "maas:registryAuth" in str(anonymous.value)


def test_an_untrusted_certificate_says_which_setting_fixes_it(token_registry) -> None:
    address, _, _ = token_registry
    with pytest.raises(RegistryError, match="set maas:registryAuth.caFile"):
        manifest_digest(RegistryEndpoint(address=address, username=USER, password=PASSWORD), "maas/token-flow", "v1")
