"""The one set of rules for a model's Git repository location and ref.

Spec files are untrusted: a repository value ends up on a ``git`` command line run with the
CI runner's credentials, and a ref is handed to ``git`` too. Both the spec validator
(:mod:`maas_iac.spec.formats`, format ``git-repository`` / ``git-ref``) and the Git layer
(:mod:`maas_iac.source.git`) check values with the functions here, so the two cannot drift.

Accepted repositories: ``https://host/path``, ``ssh://[user@]host[:port]/path``,
``[user@]host:path`` (scp-like), ``file:///abs/path``, an absolute local path and ``~/path``.
Refused: transport helpers (``ext::``, ``fd::``, any ``<transport>::``), other schemes
(``http://``, ``git://`` and unknown ones, which Git hands to a ``git-remote-<scheme>``
program), a leading ``-`` (an option to ``git`` or ``ssh``), whitespace and control
characters, ``..`` path segments, malformed hosts, and credentials written into the URL.

The module also owns :func:`source_allowed`, the match of a repository against a stack's
``maas:allowedSources`` patterns.

Messages never repeat a value that may hold a secret.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "ALLOWED_SCHEMES",
    "LOCAL_SOURCE",
    "SourceLocation",
    "UrlProblem",
    "check_ref",
    "check_repository",
    "git_url",
    "parse_source",
    "ref_problem",
    "source_allowed",
    "source_pattern_problem",
    "valid_host",
]

ALLOWED_SCHEMES = ("https", "ssh", "file")
"""URL schemes a repository may use; Git may use only these transports (``GIT_ALLOW_PROTOCOL``)."""
LOCAL_SOURCE = "local"
"""The ``maas:allowedSources`` entry that admits local paths and ``file://`` URLs."""

# --- messages ---------------------------------------------------------------------------------
REPO_EMPTY = "the repository must not be empty"
REPO_CONTROL_CHARS = "the repository contains whitespace or control characters"
REPO_LEADING_DASH = "the repository must not start with '-' (it would be read as a git option)"
REPO_TRANSPORT_HELPER = (
    "transport-helper URLs ({helper}::...) are refused: they can run arbitrary commands"
)
REPO_SCHEME = "URL scheme {scheme!r} is not allowed; use https://, ssh://, file:// or git@host:path"
REPO_BAD_HOST = "the repository host {host!r} is not a valid host name"
REPO_OPTION_HOST = "the repository host starts with '-' (ssh would read it as an option)"
REPO_TRAVERSAL = "the repository path contains a '..' segment"
REPO_CREDENTIALS = (
    "the repository URL carries credentials (a user name with a password or token); they would "
    "end up in the Git mirror, image labels, events and logs"
)
REPO_CREDENTIALS_FIX = (
    "remove them from the URL and use a Git credential helper (https) or ssh keys "
    "(ssh://git@host/... or git@host:path) instead"
)
REPO_RELATIVE = (
    "{value!r} is neither a URL nor an absolute local path; use https://, ssh://, "
    "git@host:path, file:///abs/path, /abs/path or ~/path"
)
REPO_FIX = "e.g. https://github.com/org/models.git, git@github.com:org/models.git or ~/models"
REF_INVALID = "{value!r} is not a valid Git ref: {reason}"
REF_FIX = "use a branch, a tag or a commit SHA, e.g. main, v1 or 3f2a9c1"

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_SCP_LIKE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>.*)$")
# `user:secret@host:path`: a ':' then an '@' before any '/' (git would read `user` as the host)
_SCP_CREDENTIALS = re.compile(r"^[^/@]*:[^/@]*@")
_TRANSPORT_HELPER = re.compile(r"^(?P<helper>[A-Za-z][A-Za-z0-9+.-]*)::")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class UrlProblem(ValueError):
    """A repository or ref is refused; ``message`` and ``fix`` say why and how (never the secret)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def check_repository(value: str) -> None:
    """Return normally for a repository location that is safe to hand to ``git``; raise
    :class:`UrlProblem` otherwise (see the module docstring for the rules)."""
    if not value:
        raise UrlProblem(REPO_EMPTY, REPO_FIX)
    if value.startswith("-"):
        raise UrlProblem(REPO_LEADING_DASH, REPO_FIX)
    helper = _TRANSPORT_HELPER.match(value)
    if helper:
        raise UrlProblem(REPO_TRANSPORT_HELPER.format(helper=helper["helper"]), REPO_FIX)
    if _CONTROL_OR_SPACE.search(value):
        raise UrlProblem(REPO_CONTROL_CHARS, REPO_FIX)
    if "://" in value:
        scheme, rest = value.split("://", 1)
        scheme = scheme.lower()
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" in authority:
            userinfo = authority.rsplit("@", 1)[0]
            # Over https a user name alone is a token (or useless: CI has no prompt).
            if ":" in userinfo or scheme in ("https", "http"):
                raise UrlProblem(REPO_CREDENTIALS, REPO_CREDENTIALS_FIX)
        if scheme not in ALLOWED_SCHEMES:
            raise UrlProblem(REPO_SCHEME.format(scheme=scheme), REPO_FIX)
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            raise UrlProblem(REPO_RELATIVE.format(value=value), REPO_FIX) from None
        if scheme == "file":
            if host not in ("", "localhost") or not parts.path.startswith("/"):
                raise UrlProblem(REPO_RELATIVE.format(value=value), REPO_FIX)
        elif host.startswith("-") or (parts.username or "").startswith("-"):
            raise UrlProblem(REPO_OPTION_HOST, REPO_FIX)
        elif not valid_host(host):
            raise UrlProblem(REPO_BAD_HOST.format(host=host), REPO_FIX)
        _no_traversal(parts.path)
        return
    if value.startswith("/"):
        _no_traversal(value)
        return
    if value.startswith("~/") or value == "~":
        _no_traversal(value[1:])
        return
    if _SCP_CREDENTIALS.match(value):
        raise UrlProblem(REPO_CREDENTIALS, REPO_CREDENTIALS_FIX)
    scp = _SCP_LIKE.match(value)
    if scp and "/" not in value.split(":", 1)[0]:
        if not valid_host(scp["host"]):
            raise UrlProblem(REPO_BAD_HOST.format(host=scp["host"]), REPO_FIX)
        if scp["path"].startswith("-") or not scp["path"]:
            raise UrlProblem(REPO_RELATIVE.format(value=value), REPO_FIX)
        _no_traversal(scp["path"])
        return
    raise UrlProblem(REPO_RELATIVE.format(value=value), REPO_FIX)


def git_url(value: str) -> str:
    """``value`` checked (:func:`check_repository`) and as Git is given it: local paths become
    ``file://`` URLs, everything else is passed on unchanged."""
    check_repository(value)
    if "://" in value or not (value.startswith("/") or value.startswith("~")):
        return value
    return Path(os.path.expanduser(value)).resolve().as_uri()


def valid_host(host: str) -> bool:
    """A DNS host name or an IP address, never option-like (a leading ``-``)."""
    if not host or host.startswith("-"):
        return False
    if _HOSTNAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _no_traversal(path: str) -> None:
    # '%2e%2e' is '..' to the server: check the decoded path too
    if ".." in path.split("/") or ".." in unquote(path).split("/"):
        raise UrlProblem(REPO_TRAVERSAL, REPO_FIX)


def ref_problem(value: str) -> str | None:
    """Why ``value`` is not a branch, tag or SHA by ``git check-ref-format`` rules (or is an
    option), or ``None`` when it is fine."""
    if not value:
        return "it is empty"
    if value.startswith("-"):
        return "it starts with '-'"
    if _REF_FORBIDDEN.search(value):
        return "it contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in value:
        return "it contains '..'"
    if "@{" in value:
        return "it contains '@{'"
    if value == "@":
        return "it is '@'"
    if value.startswith("/") or value.endswith("/") or "//" in value:
        return "it has an empty '/'-separated component"
    if value.endswith("."):
        return "it ends with '.'"
    for part in value.split("/"):
        if part.startswith("."):
            return "a component starts with '.'"
        if part.endswith(".lock"):
            return "a component ends with '.lock'"
    return None


def check_ref(value: str) -> None:
    """Raise :class:`UrlProblem` unless ``value`` is a valid branch, tag or commit SHA."""
    reason = ref_problem(value)
    if reason:
        raise UrlProblem(REF_INVALID.format(value=value, reason=reason), REF_FIX)


# --- allowed sources --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a (checked) repository lives, for matching against allowed-source patterns."""

    local: bool
    """A local path or ``file://`` URL."""
    host: str
    """Lower-case host name without port; ``""`` for local sources."""
    path: str
    """Remote: the path on the host without leading or trailing '/'. Local: the absolute,
    symlink-resolved path."""


def parse_source(value: str) -> SourceLocation:
    """The location of a repository that passed :func:`check_repository`."""
    check_repository(value)
    if value.startswith("file://"):
        return SourceLocation(True, "", os.path.realpath(unquote(urlsplit(value).path)))
    if value.startswith("/") or value.startswith("~"):
        return SourceLocation(True, "", os.path.realpath(os.path.expanduser(value)))
    if "://" in value:
        parts = urlsplit(value)
        return SourceLocation(False, (parts.hostname or "").lower(), unquote(parts.path).strip("/"))
    scp = _SCP_LIKE.match(value)
    assert scp is not None  # check_repository accepted it
    return SourceLocation(False, scp["host"].lower(), unquote(scp["path"]).strip("/"))


def source_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid ``maas:allowedSources`` entry, or ``None``."""
    if pattern == LOCAL_SOURCE:
        return None
    if _CONTROL_OR_SPACE.search(pattern):
        return "it contains whitespace or control characters"
    if pattern.startswith(LOCAL_SOURCE + ":"):
        rest = pattern[len(LOCAL_SOURCE) + 1 :]
        if not (rest.startswith("/") or rest.startswith("~/")):
            return "a local pattern is 'local' or 'local:/abs/path/*' (or 'local:~/path/*')"
        return None
    host, path = _split_pattern(pattern)
    if not host or not re.fullmatch(r"[A-Za-z0-9*?.-]+", host) or host.strip("*?.") == "":
        return "it needs a host name (wildcards allowed, e.g. *.example.com), then an optional /path or :path"
    if ".." in path.split("/"):
        return "it contains a '..' segment"
    return None


def source_allowed(repository: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``repository`` matches one of ``patterns`` (a stack's ``maas:allowedSources``).

    * ``local``: any local path or ``file://`` URL;
    * ``local:/srv/git/*`` (or ``local:~/models/*``): local sources under that path;
    * ``host``: any repository on that host (any scheme, any port, any user);
    * ``host/owner/*`` or ``host:owner/*``: repositories whose path matches, segment by
      segment: ``*`` and ``?`` match within one segment, a ``**`` segment any number of
      segments. A trailing ``.git`` is ignored on both sides. Host names may use ``*``.
    """
    try:
        location = parse_source(repository)
    except UrlProblem:
        return False
    for pattern in patterns:
        if source_pattern_problem(pattern):
            continue
        if location.local:
            if pattern == LOCAL_SOURCE:
                return True
            if pattern.startswith(LOCAL_SOURCE + ":"):
                glob = _real_prefix(os.path.expanduser(pattern[len(LOCAL_SOURCE) + 1 :]))
                if _path_match(location.path.strip("/").split("/"), glob.strip("/").split("/")):
                    return True
            continue
        if pattern == LOCAL_SOURCE or pattern.startswith(LOCAL_SOURCE + ":"):
            continue
        host, path = _split_pattern(pattern)
        if not fnmatch.fnmatchcase(location.host, host.lower()):
            continue
        if not path or _path_match(_segments(location.path), _segments(path)):
            return True
    return False


def _split_pattern(pattern: str) -> tuple[str, str]:
    cut = re.search(r"[/:]", pattern)
    if not cut:
        return pattern, ""
    return pattern[: cut.start()], pattern[cut.end() :].strip("/")


def _segments(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][: -len(".git")]
    return parts


def _path_match(value: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not value
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_path_match(value[i:], rest) for i in range(len(value) + 1))
    return bool(value) and fnmatch.fnmatchcase(value[0], head) and _path_match(value[1:], rest)


def _real_prefix(glob: str) -> str:
    """``glob`` with the part before its first wildcard symlink-resolved, as sources are."""
    first = min((glob.index(c) for c in "*?[" if c in glob), default=len(glob))
    head, sep, tail = glob[:first].rpartition("/")
    return os.path.realpath(head or "/") + sep + tail + glob[first:]
