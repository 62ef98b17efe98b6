"""The registry client: the Docker Registry HTTP API v2, with TLS and the registry's login.

Usable before any resource exists (previews compute whether a tag must be built). A registry
that answers 401 is asked again with the stack's credentials, the way the registry's
``WWW-Authenticate`` challenge says: HTTP basic, or the v2 token flow (a bearer token from the
challenge's ``realm`` for its ``service`` and ``scope``, fetched with the same credentials).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.errors import RegistryError

__all__ = ["MANIFEST_TYPES", "Credentials", "RegistryClient", "base_url", "credentials", "manifest_digest"]

MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def base_url(registry: RegistryEndpoint | str) -> str:
    """Plain HTTP for a registry on the loopback without a CA of its own (as Docker allows),
    HTTPS otherwise."""
    endpoint = registry if isinstance(registry, RegistryEndpoint) else RegistryEndpoint(address=registry)
    plain = _loopback(endpoint.address) and not endpoint.ca_file and not endpoint.has_login
    return f"{'http' if plain else 'https'}://{endpoint.address}"


@dataclass(frozen=True)
class Credentials:
    """A registry login. ``repr`` never shows the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<secret>)"


def credentials(endpoint: RegistryEndpoint) -> Optional[Credentials]:
    """The login of ``endpoint``: its username and password, or what its Docker credential
    helper (``docker-credential-<name> get``) answers for the registry; None without either."""
    if endpoint.credential_helper:
        program = f"docker-credential-{endpoint.credential_helper}"
        try:
            done = subprocess.run([program, "get"], input=endpoint.address, capture_output=True, text=True,
                                  timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RegistryError(f"registry {endpoint.address}: credential helper {program} failed ({exc}); "
                                f"install it, or set maas:registryAuth.username and password instead") from exc
        if done.returncode != 0:
            raise RegistryError(f"registry {endpoint.address}: {program} get found no login "
                                f"({done.stdout.strip() or done.stderr.strip()}); log in with it first")
        try:
            answer = json.loads(done.stdout)
            return Credentials(username=str(answer["Username"]), password=str(answer["Secret"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"registry {endpoint.address}: {program} get answered no Username/Secret") from exc
    if endpoint.username:
        password = endpoint.password
        if password is not None and not isinstance(password, str):
            raise TypeError("the registry password is still a pulumi.Output here; resolve it first")
        return Credentials(username=endpoint.username, password=password or "")
    return None


class RegistryClient:
    """Requests to one registry, authenticated as its challenge asks (basic or bearer token).

    Bearer tokens are cached per scope for the client's life; a client is cheap, make one per
    operation.
    """

    def __init__(self, endpoint: RegistryEndpoint, timeout_s: float = 30) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._base = base_url(endpoint)
        self._context: Optional[ssl.SSLContext] = None
        if self._base.startswith("https:"):
            cafile = os.path.expanduser(endpoint.ca_file) if endpoint.ca_file else None
            try:
                self._context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as exc:
                raise RegistryError(f"registry {endpoint.address}: cannot read its CA file {cafile} ({exc}); "
                                    f"fix maas:registryAuth.caFile") from exc
        self._login: Optional[Credentials] = None
        self._login_read = False
        self._tokens: dict[str, str] = {}
        self._authorizations: dict[str, str] = {}
        """The ``Authorization`` a scope last succeeded with, sent up front the next time: it
        saves the 401 round trip, and an upload body is then sent once."""

    # -- the login

    def _credentials(self) -> Optional[Credentials]:
        if not self._login_read:
            self._login, self._login_read = credentials(self.endpoint), True
        return self._login

    def _basic(self, login: Credentials) -> str:
        return "Basic " + base64.b64encode(f"{login.username}:{login.password}".encode()).decode()

    def _token(self, challenge: Mapping[str, str], scope: str) -> str:
        key = f"{challenge.get('realm')} {challenge.get('service')} {scope}"
        if key in self._tokens:
            return self._tokens[key]
        realm = challenge.get("realm")
        if not realm or not realm.startswith(("https://", "http://")):
            raise RegistryError(f"registry {self.endpoint.address} asked for a token from an unusable realm {realm!r}")
        query = {k: v for k, v in (("service", challenge.get("service")), ("scope", scope)) if v}
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}" if query else realm)
        login = self._credentials()
        if login is not None:
            request.add_header("Authorization", self._basic(login))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._tls_for(realm)) as answer:
                doc = json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise self._refused(err.code, f"its token service {realm}") from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RegistryError(f"registry {self.endpoint.address}: its token service {realm} failed ({err})") from err
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.endpoint.address}: its token service {realm} sent no token")
        self._tokens[key] = token
        return token

    def _tls_for(self, url: str) -> Optional[ssl.SSLContext]:
        return self._context if url.startswith("https:") else None

    def _refused(self, code: int, what: str) -> RegistryError:
        login = self._credentials()
        if login is None:
            return RegistryError(
                f"registry {self.endpoint.address} wants a login ({what} answered {code}): set maas:registryAuth "
                f"{{username, password}} (pulumi config set --secret --path maas:registryAuth.password) "
                f"or maas:registryAuth.credentialHelper")
        return RegistryError(
            f"registry {self.endpoint.address} refused the login of user {login.username!r} ({what} answered "
            f"{code}): check maas:registryAuth.username and its password, and that the user may use this repository")

    # -- requests

    def request(self, method: str, path: str, *, scope: str, headers: Optional[Mapping[str, str]] = None,
                body: Optional[bytes] = None, url: Optional[str] = None) -> Any:
        """The registry's answer to ``method path`` (an open ``http.client.HTTPResponse``; the
        caller closes it), authenticated for ``scope`` (``repository:<name>:pull,push``).

        ``url`` replaces ``base + path`` (upload locations are absolute). ``body`` may be a
        seekable file (give its ``Content-Length``): it is rewound when the request is repeated
        with a login. A 404 raises ``urllib.error.HTTPError``; a refused login and an
        unreachable registry raise :class:`RegistryError`.
        """
        target = url or f"{self._base}{path}"
        authorization = self._authorizations.get(scope)
        for attempt in range(2):
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            request = urllib.request.Request(target, data=body, method=method, headers=dict(headers or {}))
            if authorization:
                request.add_header("Authorization", authorization)
            try:
                response = urllib.request.urlopen(request, timeout=self.timeout_s, context=self._tls_for(target))
            except urllib.error.HTTPError as err:
                if err.code != 401:
                    raise
                if attempt or self._credentials() is None and "bearer" not in (err.headers.get("WWW-Authenticate") or "").lower():
                    raise self._refused(401, f"{method} {path}") from err
                if self._authorizations.pop(scope, None):
                    self._tokens.clear()  # the remembered token expired: ask for a new one
                authorization = self._authorization(err.headers.get("WWW-Authenticate") or "", scope)
                continue
            except ssl.SSLError as err:
                raise self._untrusted(err) from err
            except urllib.error.URLError as err:
                if isinstance(err.reason, ssl.SSLError):
                    raise self._untrusted(err.reason) from err
                raise RegistryError(f"registry {self.endpoint.address} is unreachable ({err.reason}); "
                                    f"is it running? (scripts/services status)") from err
            except OSError as err:
                raise RegistryError(f"registry {self.endpoint.address} is unreachable ({err}); "
                                    f"is it running? (scripts/services status)") from err
            if authorization:
                self._authorizations[scope] = authorization
            return response
        raise AssertionError("unreachable")

    def _authorization(self, challenge_header: str, scope: str) -> str:
        scheme, _, params = challenge_header.partition(" ")
        if scheme.lower() == "bearer":
            return "Bearer " + self._token(dict(_CHALLENGE_PARAM.findall(params)), scope)
        login = self._credentials()
        if login is None:
            raise self._refused(401, "a request")
        return self._basic(login)

    def _untrusted(self, err: BaseException) -> RegistryError:
        return RegistryError(
            f"registry {self.endpoint.address}: TLS failed ({err}); if its certificate is signed by a private CA, "
            f"set maas:registryAuth.caFile to that CA's PEM file")

    def manifest_digest(self, repository: str, reference: str) -> Optional[str]:
        """The ``sha256:…`` digest of ``repository:reference``, or None when the registry lacks it."""
        try:
            with self.request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull",
                              headers={"Accept": MANIFEST_TYPES}) as response:
                digest = response.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise RegistryError(f"registry {self.endpoint.address} answered {err.code} for {repository}:{reference}") from err
        if not digest:
            raise RegistryError(
                f"registry {self.endpoint.address} sent no Docker-Content-Digest for {repository}:{reference}")
        return digest


def manifest_digest(registry: RegistryEndpoint | str, repository: str, tag: str,
                    timeout_s: float = 10) -> Optional[str]:
    """The ``sha256:...`` digest of ``repository:tag``, or None when the registry lacks the tag.

    Raises :class:`RegistryError` when the registry cannot be asked.
    """
    endpoint = registry if isinstance(registry, RegistryEndpoint) else RegistryEndpoint(address=registry)
    return RegistryClient(endpoint, timeout_s).manifest_digest(repository, tag)
