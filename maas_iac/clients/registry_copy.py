"""Images moved between registries by digest, bit for bit, and what an image says about itself.

:func:`copy_image` is the Registry HTTP API v2 way to copy: the manifest is fetched by its
digest and sent on unchanged, so the copy has the same digest; every blob it names (config and
layers, and for an index the child manifests' blobs) that the target lacks is streamed through
a temporary file, checked against its digest, and uploaded in one ``PUT``. Within one registry
nothing moves: the tag is pointed at the digest.

:func:`image_config` reads an image's config (labels, command) from its registry, which is
how a promoted model is known without its Git source.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
from dataclasses import dataclass
from typing import Any

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import MANIFEST_TYPES, RegistryClient, base_url
from maas_iac.errors import RegistryError

__all__ = ["CopyResult", "copy_image", "image_config"]

_INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.oci.image.index.v1+json")
_CHUNK = 1 << 20
_BLOB_TIMEOUT_S = 600


@dataclass(frozen=True)
class CopyResult:
    """What :func:`copy_image` did."""

    digest: str
    """The manifest digest, the same on both registries."""
    copied: bool
    """False when both are one registry (only the tag was checked or set)."""
    blobs_copied: int = 0
    bytes_copied: int = 0
    blobs_present: int = 0
    """Blobs the target already had."""


def _repo_scope(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"


def _manifest(client: RegistryClient, repository: str, digest: str) -> tuple[bytes, str]:
    """The manifest's bytes and media type, checked against ``digest``; RegistryError when missing."""
    try:
        with client.request("GET", f"/v2/{repository}/manifests/{digest}", scope=_repo_scope(repository, "pull"),
                            headers={"Accept": MANIFEST_TYPES}) as answer:
            body, media_type = answer.read(), answer.headers.get("Content-Type") or ""
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise RegistryError(f"registry {client.endpoint.address} has no {repository}@{digest}") from err
        raise RegistryError(f"registry {client.endpoint.address} answered {err.code} for {repository}@{digest}") from err
    if _sha256(body) != digest:
        raise RegistryError(f"registry {client.endpoint.address} sent a manifest for {repository}@{digest} "
                            f"whose bytes hash to {_sha256(body)}")
    return body, json.loads(body).get("mediaType") or media_type.split(";")[0].strip()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Copier:
    def __init__(self, src: RegistryClient, dst: RegistryClient, repository: str) -> None:
        self.src, self.dst, self.repository = src, dst, repository
        self.copied = self.bytes = self.present = 0

    def manifest(self, digest: str, reference: str) -> None:
        """Copy manifest ``digest`` with everything it names, then put it under ``reference``."""
        body, media_type = _manifest(self.src, self.repository, digest)
        doc = json.loads(body)
        if media_type in _INDEX_TYPES:
            for child in doc.get("manifests") or ():
                self.manifest(child["digest"], child["digest"])
        else:
            for blob in [doc["config"], *(doc.get("layers") or ())]:
                self.blob(blob["digest"])
        self.put_manifest(body, media_type, reference)

    def put_manifest(self, body: bytes, media_type: str, reference: str) -> None:
        path = f"/v2/{self.repository}/manifests/{reference}"
        try:
            self.dst.request("PUT", path, scope=_repo_scope(self.repository, "pull,push"), body=body,
                             headers={"Content-Type": media_type}).close()
        except urllib.error.HTTPError as err:
            raise RegistryError(f"registry {self.dst.endpoint.address} refused the manifest of "
                                f"{self.repository}:{reference} ({err.code} {_reason(err)})") from err

    def blob(self, digest: str) -> None:
        scope = _repo_scope(self.repository, "pull,push")
        try:
            self.dst.request("HEAD", f"/v2/{self.repository}/blobs/{digest}", scope=scope).close()
            self.present += 1
            return
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise RegistryError(f"registry {self.dst.endpoint.address} answered {err.code} for blob {digest}") from err
        with tempfile.TemporaryFile() as spool:
            size = self._download(digest, spool)
            self._upload(digest, spool, size)
        self.copied += 1
        self.bytes += size

    def _download(self, digest: str, spool: Any) -> int:
        hasher, size = hashlib.sha256(), 0
        try:
            with self.src.request("GET", f"/v2/{self.repository}/blobs/{digest}",
                                  scope=_repo_scope(self.repository, "pull")) as answer:
                while chunk := answer.read(_CHUNK):
                    hasher.update(chunk)
                    spool.write(chunk)
                    size += len(chunk)
        except urllib.error.HTTPError as err:
            raise RegistryError(f"registry {self.src.endpoint.address} has no blob {digest} of "
                                f"{self.repository} ({err.code})") from err
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise RegistryError(f"registry {self.src.endpoint.address} sent blob {digest} with other bytes")
        return size

    def _upload(self, digest: str, spool: Any, size: int) -> None:
        scope = _repo_scope(self.repository, "pull,push")
        try:
            with self.dst.request("POST", f"/v2/{self.repository}/blobs/uploads/", scope=scope, body=b"") as answer:
                location = answer.headers.get("Location")
            if not location:
                raise RegistryError(f"registry {self.dst.endpoint.address} started an upload without a Location")
            url = urllib.parse.urljoin(base_url(self.dst.endpoint) + "/", location)
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
            self.dst.request("PUT", "", url=url, scope=scope, body=spool,
                             headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}).close()
        except urllib.error.HTTPError as err:
            raise RegistryError(f"registry {self.dst.endpoint.address} refused blob {digest} of {self.repository} "
                                f"({err.code} {_reason(err)})") from err


def _reason(err: urllib.error.HTTPError) -> str:
    try:
        errors = json.loads(err.read() or b"{}").get("errors") or []
        return "; ".join(str(e.get("message") or e.get("code")) for e in errors) or str(err.reason)
    except ValueError:
        return str(err.reason)


def copy_image(src: RegistryEndpoint, dst: RegistryEndpoint, repository: str, digest: str, tag: str) -> CopyResult:
    """Make ``dst`` serve ``repository@digest`` as ``repository:tag``, the manifest copied from
    ``src`` byte for byte. Raises :class:`RegistryError` when ``src`` lacks the digest, a
    registry refuses, or ``dst`` ends up with another digest for the tag."""
    source = RegistryClient(src, timeout_s=_BLOB_TIMEOUT_S)
    target = source if src.address == dst.address else RegistryClient(dst, timeout_s=_BLOB_TIMEOUT_S)
    copier = _Copier(source, target, repository)
    if target is source:
        if target.manifest_digest(repository, tag) != digest:
            copier.put_manifest(*_manifest(source, repository, digest), tag)
    else:
        copier.manifest(digest, tag)
    landed = target.manifest_digest(repository, tag)
    if landed != digest:
        raise RegistryError(f"registry {dst.address} lists {repository}:{tag} as {landed}, not {digest}")
    return CopyResult(digest=digest, copied=target is not source, blobs_copied=copier.copied,
                      bytes_copied=copier.bytes, blobs_present=copier.present)


def image_config(endpoint: RegistryEndpoint, repository: str, digest: str, platform: str = "linux/amd64") -> dict[str, Any]:
    """The ``config`` section (``Labels``, ``Cmd``, ``Env``…) of image ``repository@digest``;
    for an index, of its ``platform`` child (else its first). Raises :class:`RegistryError`
    when the registry lacks it."""
    client = RegistryClient(endpoint)
    body, media_type = _manifest(client, repository, digest)
    doc = json.loads(body)
    if media_type in _INDEX_TYPES:
        children = doc.get("manifests") or []
        if not children:
            raise RegistryError(f"{repository}@{digest} is an empty index")
        wanted = [c for c in children if "/".join(
            str((c.get("platform") or {}).get(k)) for k in ("os", "architecture")) == platform]
        doc = json.loads(_manifest(client, repository, (wanted or children)[0]["digest"])[0])
    config_digest = doc["config"]["digest"]
    try:
        with client.request("GET", f"/v2/{repository}/blobs/{config_digest}",
                            scope=_repo_scope(repository, "pull")) as answer:
            blob = answer.read()
    except urllib.error.HTTPError as err:
        raise RegistryError(f"registry {endpoint.address} has no config blob {config_digest} of {repository}") from err
    if _sha256(blob) != config_digest:
        raise RegistryError(f"registry {endpoint.address} sent config blob {config_digest} with other bytes")
    return dict(json.loads(blob).get("config") or {})

