"""The maas-iac string formats named by ``format`` in the schemas, with their checks.

Each checker returns normally for a valid value and raises :class:`FormatProblem` (message and
fix) otherwise, so every rejected value gets one precise reason. Values of the wrong JSON type
pass here: the schema's ``type`` reports those.

The source checks (:func:`check_repository`, :func:`check_ref`, :func:`check_relative_path`)
guard against hostile specs: the values end up on a ``git`` command line and in file paths.
The repository and ref rules live in :mod:`maas_iac.source.urls`, shared with the Git layer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from jsonschema import FormatChecker

from maas_iac.source import urls
from maas_iac.spec import messages as M

__all__ = [
    "FORMAT_CHECKER",
    "FormatProblem",
    "check_ref",
    "check_relative_path",
    "check_repository",
    "check_source_pattern",
    "memory_bytes",
]


class FormatProblem(ValueError):
    """A value does not have its declared format; ``message`` and ``fix`` say why and how."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VERSION_LABEL = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9_]{0,61}[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_KAFKA_CONFIG_KEY = re.compile(r"^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)*$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_QUANTITY_FACTORS = {
    None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
}
_MIN_MEMORY = 6 * (1 << 20)  # Docker refuses a memory limit under 6 MiB
_PORT = r"(?:[1-9][0-9]{0,4})"
# host, IPv4 or [IPv6], then :port
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[-A-Za-z0-9.]{0,252}))(?::" + _PORT + r")?$")
# Docker image reference: [registry[:port]/]path[:tag][@digest]
_IMAGE = re.compile(
    r"^(?:(?:[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_NETWORK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _string(check: Callable[[str], None]) -> Callable[[object], bool]:
    def checker(value: object) -> bool:
        if isinstance(value, str):
            check(value)
        return True

    checker.__doc__ = check.__doc__
    return checker


def _regex_check(pattern: re.Pattern[str], message: str, fix: str | None = None) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not pattern.match(value):
            raise FormatProblem(message.format(value=value), fix)

    return check


def check_repository(value: str) -> None:
    """A Git repository location that is safe to hand to ``git``, by the rules of
    :func:`maas_iac.source.urls.check_repository` (the Git layer checks with the same function).

    Accepted: ``https://``, ``ssh://``, ``git@host:path`` (scp-like), ``file:///abs``, an
    absolute local path and ``~/path``. Refused: transport helpers (``ext::``, any
    ``<transport>::``), a leading ``-``, whitespace and control characters, other schemes
    (``http://``, ``git://``), ``..`` path segments, hosts that are not host names and
    credentials in the URL.
    """
    try:
        urls.check_repository(value)
    except urls.UrlProblem as exc:
        raise FormatProblem(exc.message, exc.fix) from None


def check_ref(value: str) -> None:
    """A branch, tag or commit SHA, by ``git check-ref-format`` rules, and never an option
    (:func:`maas_iac.source.urls.check_ref`)."""
    try:
        urls.check_ref(value)
    except urls.UrlProblem as exc:
        raise FormatProblem(exc.message, exc.fix) from None


def check_source_pattern(value: str) -> None:
    """One ``maas:allowedSources`` entry (:func:`maas_iac.source.urls.source_allowed`)."""
    reason = urls.source_pattern_problem(value)
    if reason:
        raise FormatProblem(M.SOURCE_PATTERN.format(value=value, reason=reason), M.SOURCE_PATTERN_FIX)


def check_relative_path(value: str) -> None:
    """A '/'-separated path inside the repository: relative, no '..', no odd characters."""
    if value.startswith("/") or value.startswith("~") or re.match(r"^[A-Za-z]:", value):
        raise FormatProblem(M.PATH_ABSOLUTE.format(value=value), M.PATH_FIX)
    if "\\" in value:
        raise FormatProblem(M.PATH_INVALID.format(value=value, reason="must use '/' as separator"), M.PATH_FIX)
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise FormatProblem(M.PATH_INVALID.format(value=value, reason="contains control characters"), M.PATH_FIX)
    if value.startswith("-"):
        raise FormatProblem(M.PATH_INVALID.format(value=value, reason="must not start with '-'"), M.PATH_FIX)
    if ".." in value.split("/"):
        raise FormatProblem(M.PATH_TRAVERSAL.format(value=value), M.PATH_FIX)


def memory_bytes(value: str | int) -> int:
    """Bytes in a memory quantity (``1Gi`` → 1073741824); raises :class:`FormatProblem`."""
    if isinstance(value, int):
        amount = value
    else:
        match = _QUANTITY.match(value)
        if not match:
            raise FormatProblem(M.QUANTITY.format(value=value), M.QUANTITY_FIX)
        amount = int(float(match[1]) * _QUANTITY_FACTORS[match[2]])
    if amount < _MIN_MEMORY:
        raise FormatProblem(
            M.QUANTITY.format(value=value) + " of at least 6Mi (Docker's minimum)", M.QUANTITY_FIX
        )
    return amount


def _check_quantity(value: object) -> bool:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        memory_bytes(value)
    return True


def _check_ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise FormatProblem(M.IP_ADDRESS.format(value=value), M.IP_ADDRESS_FIX) from None


def _check_registry(value: str) -> None:
    if "://" in value or "/" in value or not _HOST_PORT.match(value):
        raise FormatProblem(M.REGISTRY.format(value=value), M.REGISTRY_FIX)


def _check_docker_host(value: str) -> None:
    if value.startswith("unix:///") and not _CONTROL_OR_SPACE.search(value):
        if ".." not in value[len("unix://"):].split("/"):
            return
    elif value.startswith(("ssh://", "tcp://")):
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is not None
            and urls.valid_host(parts.hostname or "")
            and not (parts.username or "").startswith("-")
            and parts.path in ("", "/")
            and not _CONTROL_OR_SPACE.search(value)
            # tcp: an explicit port and no user (the client certificate is the login)
            and (parts.scheme == "ssh" or (port is not None and not parts.username and not parts.password))
        ):
            return
    raise FormatProblem(M.DOCKER_HOST.format(value=value), M.DOCKER_HOST_FIX)


def _check_bootstrap(value: str) -> None:
    servers = [s.strip() for s in value.split(",")]
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise FormatProblem(M.BOOTSTRAP_SERVERS.format(value=value), M.BOOTSTRAP_SERVERS_FIX)
        if not (urls.valid_host(host) or (host.startswith("[") and host.endswith("]"))):
            raise FormatProblem(M.BOOTSTRAP_SERVERS.format(value=value), M.BOOTSTRAP_SERVERS_FIX)


def _build_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    string_formats: dict[str, Callable[[str], None]] = {
        "dns-label": _regex_check(_DNS_LABEL, M.DNS_LABEL, M.DNS_LABEL_FIX),
        "label-key": _regex_check(_LABEL_KEY, M.LABEL_KEY),
        "version-label": _regex_check(_VERSION_LABEL, M.VERSION_LABEL),
        "env-name": _regex_check(_ENV_NAME, M.ENV_NAME),
        "kafka-config-key": _regex_check(_KAFKA_CONFIG_KEY, M.KAFKA_CONFIG_KEY),
        "image-reference": _regex_check(_IMAGE, M.IMAGE_REFERENCE, M.IMAGE_REFERENCE_FIX),
        "network-name": _regex_check(_NETWORK, M.NETWORK_NAME),
        "git-repository": check_repository,
        "git-ref": check_ref,
        "source-pattern": check_source_pattern,
        "relative-path": check_relative_path,
        "registry": _check_registry,
        "ip-address": _check_ip,
        "docker-host": _check_docker_host,
        "bootstrap-servers": _check_bootstrap,
    }
    for name, check in string_formats.items():
        checker.checks(name, raises=FormatProblem)(_string(check))
    checker.checks("quantity", raises=FormatProblem)(_check_quantity)
    return checker


FORMAT_CHECKER: FormatChecker = _build_checker()
"""The format checker both schemas are validated with."""
