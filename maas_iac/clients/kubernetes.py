"""A read-only client of a stack's Kubernetes API, for ``maas drift``: the kubeconfig's context
(server, CA, client certificate or token) and plain HTTPS GETs.

The Pulumi program never uses it; resources go through the pulumi-kubernetes provider.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from maas_iac.clients.endpoints import KubernetesEndpoint
from maas_iac.errors import InfrastructureError

__all__ = ["KubeApi", "open_kube"]


def _named(items: Any, name: str, kind: str, path: str) -> Mapping[str, Any]:
    for item in items or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return item.get(kind) or {}
    raise InfrastructureError(f"kubeconfig {path} has no {kind} named {name!r}")


class KubeApi:
    """GETs against the API server of one kubeconfig context. Use as a context manager: the
    client certificate's files live in a private temporary directory until it closes."""

    def __init__(self, endpoint: KubernetesEndpoint, timeout_s: float = 10) -> None:
        import requests
        from ruamel.yaml import YAML

        path = endpoint.kubeconfig
        try:
            config = YAML(typ="safe").load(Path(path).read_text())
        except OSError as exc:
            raise InfrastructureError(f"cannot read the kubeconfig {path}: {exc.strerror}") from None
        context_name = endpoint.context or config.get("current-context")
        context = _named(config.get("contexts"), context_name, "context", path)
        cluster = _named(config.get("clusters"), context.get("cluster"), "cluster", path)
        user = _named(config.get("users"), context.get("user"), "user", path)
        self.namespace = endpoint.namespace
        self.server = str(cluster["server"]).rstrip("/")
        self.timeout_s = timeout_s
        self._dir = tempfile.TemporaryDirectory(prefix="maas-kube-")
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or CA bundle from the environment: the kubeconfig's own
        self.verify: str | bool = self._file(cluster, "certificate-authority", "ca.crt") or True
        cert = self._file(user, "client-certificate", "client.crt")
        key = self._file(user, "client-key", "client.key")
        if cert and key:
            self.session.cert = (cert, key)
        if user.get("token"):
            self.session.headers["Authorization"] = f"Bearer {user['token']}"

    def _file(self, section: Mapping[str, Any], key: str, name: str) -> Optional[str]:
        if section.get(key):
            return os.path.expanduser(str(section[key]))
        data = section.get(f"{key}-data")
        if not data:
            return None
        target = Path(self._dir.name) / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(data))
        return str(target)

    def __enter__(self) -> KubeApi:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        self._dir.cleanup()

    def get(self, path: str, **params: str) -> Optional[dict[str, Any]]:
        """The JSON object at ``path``, or None when the API server says 404."""
        import requests

        try:
            response = self.session.get(self.server + path, params=params or None, timeout=self.timeout_s,
                                        verify=self.verify)
        except requests.RequestException as exc:
            raise InfrastructureError(f"the Kubernetes API server at {self.server} does not answer ({exc})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise InfrastructureError(f"the Kubernetes API server answered {response.status_code} for GET {path}: "
                                      f"{response.text[:200]}")
        return response.json()

    def deployment(self, name: str) -> Optional[dict[str, Any]]:
        return self.get(f"/apis/apps/v1/namespaces/{quote(self.namespace)}/deployments/{quote(name)}")

    def deployments(self, selector: str) -> list[dict[str, Any]]:
        found = self.get(f"/apis/apps/v1/namespaces/{quote(self.namespace)}/deployments", labelSelector=selector)
        return list((found or {}).get("items") or [])

def open_kube(endpoint: KubernetesEndpoint, timeout_s: float = 10) -> KubeApi:
    """A :class:`KubeApi` for the stack's cluster (the caller closes it)."""
    return KubeApi(endpoint, timeout_s)
