"""The registry client: manifest look-ups over the Docker Registry HTTP API v2.

Usable before any resource exists (previews compute whether a tag must be built).
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from typing import Optional

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.errors import RegistryError

__all__ = ["base_url", "manifest_digest"]

_MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))


def base_url(registry: str) -> str:
    """Plain HTTP for a registry on the loopback (as Docker allows), HTTPS otherwise."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return f"{'http' if loopback else 'https'}://{registry}"


def manifest_digest(registry: RegistryEndpoint | str, repository: str, tag: str,
                    timeout_s: float = 10) -> Optional[str]:
    """The ``sha256:...`` digest of ``repository:tag``, or None when the registry lacks the tag.

    Raises :class:`RegistryError` when the registry cannot be asked.
    """
    address = registry.address if isinstance(registry, RegistryEndpoint) else registry
    request = urllib.request.Request(
        f"{base_url(address)}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": _MANIFEST_TYPES},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            digest = response.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise RegistryError(f"registry {address} answered {err.code} for {repository}:{tag}") from err
    except (urllib.error.URLError, OSError) as err:
        raise RegistryError(
            f"registry {address} is unreachable ({err}); is it running? (scripts/services start)") from err
    if not digest:
        raise RegistryError(f"registry {address} sent no Docker-Content-Digest for {repository}:{tag}")
    return digest
