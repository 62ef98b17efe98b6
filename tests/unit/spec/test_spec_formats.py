"""The checks on untrusted source fields: repository, ref and path."""

from __future__ import annotations

import pytest

from maas_iac.spec import messages as M
from maas_iac.spec.formats import FormatProblem, check_ref, check_relative_path, check_repository, memory_bytes


@pytest.mark.parametrize(
    "value",
    [
        "https://github.com/org/models.git",
        "https://git.example.com:8443/org/models",
        "ssh://git@github.com/org/models.git",
        "ssh://git@10.0.0.5:2222/srv/models.git",
        "git@github.com:org/models.git",
        "github.com:org/models.git",
        "file:///srv/git/models.git",
        "/srv/git/models",
        "~/.cache/maas-iac/example-models/half-plus-two",
    ],
)
def test_repository_accepted(value: str) -> None:
    check_repository(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ext::sh -c touch% /tmp/pwned", M.REPO_TRANSPORT_HELPER.format(helper="ext")),
        ("fd::17", M.REPO_TRANSPORT_HELPER.format(helper="fd")),
        ("hg::https://example.com/repo", M.REPO_TRANSPORT_HELPER.format(helper="hg")),
        ("--upload-pack=touch /tmp/x", M.REPO_LEADING_DASH),
        ("-", M.REPO_LEADING_DASH),
        ("ssh://-oProxyCommand=x/repo", M.REPO_OPTION_HOST),
        ("ssh://-user@host/repo", M.REPO_OPTION_HOST),
        ("http://example.com/repo.git", M.REPO_SCHEME.format(scheme="http")),
        ("git://example.com/repo.git", M.REPO_SCHEME.format(scheme="git")),
        ("https://example.com/a/../../b", M.REPO_TRAVERSAL),
        ("/srv/../etc", M.REPO_TRAVERSAL),
        ("~/../root", M.REPO_TRAVERSAL),
        ("https://exa mple.com/repo", M.REPO_CONTROL_CHARS),
        ("/srv/repo\n--foo", M.REPO_CONTROL_CHARS),
        ("", M.REPO_EMPTY),
        ("repo", M.REPO_RELATIVE.format(value="repo")),
        ("git@host:-oProxyCommand", M.REPO_RELATIVE.format(value="git@host:-oProxyCommand")),
        ("file://remote/srv/repo", M.REPO_RELATIVE.format(value="file://remote/srv/repo")),
    ],
)
def test_repository_refused(value: str, message: str) -> None:
    with pytest.raises(FormatProblem) as info:
        check_repository(value)
    assert info.value.message == message
    assert info.value.fix == M.REPO_FIX


@pytest.mark.parametrize(
    "value",
    [
        # Over https a user name alone is a token (GitHub takes one there) or, in CI, useless:
        # the unified rule refuses any user info in an https URL.
        "https://ghp_sekrit-token-0123@github.com/org/models.git",
        "https://user:sekrit-token-0123@github.com/org/models.git",
        "http://user:sekrit-token-0123@example.com/models.git",
        "ssh://git:sekrit-token-0123@git.example.com/org/models.git",
        "git:sekrit-token-0123@git.example.com:org/models.git",
    ],
)
def test_credentials_in_the_url_are_refused_without_repeating_them(value: str) -> None:
    with pytest.raises(FormatProblem) as info:
        check_repository(value)
    assert info.value.message == M.REPO_CREDENTIALS
    assert info.value.fix == M.REPO_CREDENTIALS_FIX
    assert "credential helper" in info.value.fix and "ssh keys" in info.value.fix
    assert "sekrit" not in f"{info.value.message} {info.value.fix}"


@pytest.mark.parametrize(
    "value", ["main", "v1", "release/2024-06", "feature/x.y", "3f2a9c1", "a" * 40, "refs/heads/main", "v1.0.0-rc.1"]
)
def test_ref_accepted(value: str) -> None:
    check_ref(value)


@pytest.mark.parametrize(
    "value",
    [
        "-x", "--output=/tmp/x", "a..b", "main@{1}", "@", "a b", "a\tb", "a\x00b", "a\x7fb", "a~1", "a^",
        "a:b", "a?", "a*", "a[", "a\\b", "/main", "main/", "a//b", "main.", ".hidden", "a/.b", "x.lock", "a/b.lock",
    ],
)
def test_ref_refused(value: str) -> None:
    with pytest.raises(FormatProblem) as info:
        check_ref(value)
    assert info.value.fix == M.REF_FIX


@pytest.mark.parametrize("value", [".", "models", "models/half_plus_two", "./models/x/", "a-b/c.d"])
def test_relative_path_accepted(value: str) -> None:
    check_relative_path(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("../x", M.PATH_TRAVERSAL.format(value="../x")),
        ("a/../../b", M.PATH_TRAVERSAL.format(value="a/../../b")),
        ("a/..", M.PATH_TRAVERSAL.format(value="a/..")),
        ("/etc", M.PATH_ABSOLUTE.format(value="/etc")),
        ("~/x", M.PATH_ABSOLUTE.format(value="~/x")),
        ("C:/x", M.PATH_ABSOLUTE.format(value="C:/x")),
        ("a\\..\\b", M.PATH_INVALID.format(value="a\\..\\b", reason="must use '/' as separator")),
        ("-rf", M.PATH_INVALID.format(value="-rf", reason="must not start with '-'")),
    ],
)
def test_relative_path_refused(value: str, message: str) -> None:
    with pytest.raises(FormatProblem) as info:
        check_relative_path(value)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1Gi", 1 << 30), ("512Mi", 512 << 20), ("1.5Gi", 3 << 29), ("1G", 10**9), (1 << 30, 1 << 30), ("6291456", 6 << 20)],
)
def test_memory_bytes(value: str | int, expected: int) -> None:
    assert memory_bytes(value) == expected


@pytest.mark.parametrize("value", ["1GB", "1 Gi", "-1Gi", "Gi", "1Mi", 1024])
def test_memory_refused(value: str | int) -> None:
    with pytest.raises(FormatProblem):
        memory_bytes(value)
