"""``copy_image`` and ``image_config`` against an in-process stand-in for the Registry HTTP API
v2: only the endpoints a copy uses (manifests, blobs, uploads, a bearer token service), with
the registry's digest rules. The copy against a real registry is an integration test."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import manifest_digest
from maas_iac.clients.registry_copy import copy_image, image_config
from maas_iac.errors import RegistryError

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.oci.image.index.v1+json"
REPO = "maas/half-plus-two"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Blobs and manifests in memory; ``token=True`` asks for a bearer token first, and each
    token is good for ``token_uses`` requests (so a remembered one expires)."""

    def __init__(self, token: bool = False, token_uses: int = 1000) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.tags: dict[str, str] = {}
        self.uploads: dict[str, None] = {}
        self.requests: list[tuple[str, str]] = []
        self.token, self.token_uses = token, token_uses
        self.tokens: dict[str, int] = {}
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                url = urllib.parse.urlsplit(self.path)
                registry.requests.append((self.command, url.path))
                if url.path == "/token":
                    name = uuid.uuid4().hex
                    registry.tokens[name] = registry.token_uses
                    return self._send(200, json.dumps({"token": name}).encode())
                if registry.token:
                    name = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    if registry.tokens.get(name, 0) <= 0:
                        realm = f"http://127.0.0.1:{self.server.server_port}/token"
                        return self._send(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'})
                    registry.tokens[name] -= 1
                parts = url.path.split("/")
                if "/manifests/" in url.path:
                    ref = parts[-1]
                    if self.command == "PUT":
                        digest = _digest(body)
                        registry.manifests[digest] = (body, self.headers["Content-Type"])
                        if not ref.startswith("sha256:"):
                            registry.tags[ref] = digest
                        return self._send(201, headers={"Docker-Content-Digest": digest})
                    digest = registry.tags.get(ref, ref)
                    if digest not in registry.manifests:
                        return self._send(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
                    data, media_type = registry.manifests[digest]
                    return self._send(200, data, {"Content-Type": media_type, "Docker-Content-Digest": digest})
                if url.path.endswith("/blobs/uploads/") and self.command == "POST":
                    upload = uuid.uuid4().hex
                    registry.uploads[upload] = None
                    return self._send(202, headers={"Location": f"/v2/{REPO}/blobs/uploads/{upload}?_state=x"})
                if "/blobs/uploads/" in url.path and self.command == "PUT":
                    digest = urllib.parse.parse_qs(url.query)["digest"][0]
                    if parts[-1] not in registry.uploads or _digest(body) != digest:
                        return self._send(400, b'{"errors": [{"code": "DIGEST_INVALID", "message": "digest"}]}')
                    registry.blobs[digest] = body
                    return self._send(201, headers={"Docker-Content-Digest": digest})
                if "/blobs/" in url.path:
                    if parts[-1] not in registry.blobs:
                        return self._send(404, b"{}")
                    return self._send(200, registry.blobs[parts[-1]])
                return self._send(404, b"{}")

            do_GET = do_HEAD = do_PUT = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = RegistryEndpoint(address=f"127.0.0.1:{self.server.server_port}")

    def add_blob(self, data: bytes) -> dict:
        digest = _digest(data)
        self.blobs[digest] = data
        return {"mediaType": "application/octet-stream", "digest": digest, "size": len(data)}

    def add_manifest(self, doc: dict, media_type: str, tag: str | None = None) -> str:
        body = json.dumps(doc, indent=3).encode()  # odd spacing: a copy must keep the bytes
        digest = _digest(body)
        self.manifests[digest] = (body, media_type)
        if tag:
            self.tags[tag] = digest
        return digest

    def add_image(self, layers: list[bytes], tag: str | None = None, labels: dict | None = None) -> str:
        config = json.dumps({"config": {"Labels": labels or {}, "Cmd": ["--model_config_file=/models/models.config"]}})
        doc = {"schemaVersion": 2, "mediaType": MANIFEST, "config": self.add_blob(config.encode()),
               "layers": [self.add_blob(layer) for layer in layers]}
        return self.add_manifest(doc, MANIFEST, tag)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registries():
    made: list[FakeRegistry] = []

    def make(**kwargs) -> FakeRegistry:
        made.append(FakeRegistry(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_copy_moves_manifest_and_missing_blobs_bit_for_bit(registries) -> None:
    src, dst = registries(), registries(token=True)
    base = b"base layer " * 1000
    digest = src.add_image([base, b"model version 1"], tag="md-aaaaaaaaaaaa")
    dst.add_blob(base)  # the serving base is there already
    result = copy_image(src.endpoint, dst.endpoint, REPO, digest, "md-aaaaaaaaaaaa")
    assert (result.copied, result.blobs_copied, result.blobs_present) == (True, 2, 1)
    config = json.loads(src.manifests[digest][0])["config"]["digest"]
    assert result.bytes_copied == len(b"model version 1") + len(src.blobs[config])
    assert dst.manifests[digest] == src.manifests[digest] and dst.tags["md-aaaaaaaaaaaa"] == digest
    assert manifest_digest(dst.endpoint, REPO, "md-aaaaaaaaaaaa") == digest
    # Copying again moves no blob.
    again = copy_image(src.endpoint, dst.endpoint, REPO, digest, "md-aaaaaaaaaaaa")
    assert (again.blobs_copied, again.blobs_present) == (0, 3)


def test_an_expired_token_is_renewed_and_the_upload_body_sent_again(registries) -> None:
    src, dst = registries(), registries(token=True, token_uses=2)
    digest = src.add_image([b"x" * 5000], tag="t1")
    result = copy_image(src.endpoint, dst.endpoint, REPO, digest, "t1")
    assert result.blobs_copied == 2 and dst.tags["t1"] == digest
    assert all(dst.blobs[d] == src.blobs[d] for d in dst.blobs)


def test_an_index_copies_its_children(registries) -> None:
    src, dst = registries(), registries()
    child = src.add_image([b"amd64 layer"])
    size = len(src.manifests[child][0])
    index = src.add_manifest({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": child, "size": size, "platform": {"os": "linux", "architecture": "amd64"}}]},
        INDEX, tag="multi")
    copy_image(src.endpoint, dst.endpoint, REPO, index, "multi")
    assert dst.manifests[child] == src.manifests[child] and dst.tags["multi"] == index
    assert image_config(dst.endpoint, REPO, index)["Cmd"] == ["--model_config_file=/models/models.config"]


def test_one_registry_only_points_the_tag(registries) -> None:
    reg = registries()
    digest = reg.add_image([b"layer"], tag="md-old")
    result = copy_image(reg.endpoint, reg.endpoint, REPO, digest, "md-new")
    assert (result.copied, result.blobs_copied) == (False, 0)
    assert reg.tags["md-new"] == digest
    assert not [r for r in reg.requests if "/blobs/" in r[1]]


def test_a_digest_the_source_lacks_is_a_registry_error(registries) -> None:
    src, dst = registries(), registries()
    with pytest.raises(RegistryError, match=f"has no {REPO}@sha256:"):
        copy_image(src.endpoint, dst.endpoint, REPO, "sha256:" + "0" * 64, "t")


def test_image_config_reads_labels(registries) -> None:
    reg = registries()
    digest = reg.add_image([b"l"], labels={"io.maas-iac.model-digest": "d" * 64})
    assert image_config(reg.endpoint, REPO, digest)["Labels"] == {"io.maas-iac.model-digest": "d" * 64}
