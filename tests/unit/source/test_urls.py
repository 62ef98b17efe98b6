"""One set of rules for repositories and refs: the spec layer and the Git layer agree on every
value, and a credential written into a URL is refused without being repeated anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maas_iac.errors import SourceError, SpecError
from maas_iac.resolve import Resolver
from maas_iac.source import GitMirror, git as source_git, urls
from maas_iac.spec import formats, validate_paths
from maas_iac.spec import load_stack_config
from maas_iac.spec.formats import FormatProblem
from maas_iac.spec.model import LatestVersions, Metadata, ModelServiceSpec, Ports, Serving, Source

TOKEN = "sekrit-token-4f1c9d"

ACCEPTED = [
    "https://github.com/org/models.git",
    "https://git.example.com:8443/org/models",
    "ssh://git@github.com/org/models.git",
    "ssh://git@10.0.0.5:2222/srv/models.git",
    "ssh://host.example.com/models.git",
    "git@github.com:org/models.git",
    "github.com:org/models.git",
    "file:///srv/git/models.git",
    "/srv/git/models",
    "~/.cache/maas-iac/example-models/half-plus-two",
]
REFUSED = [
    "ext::sh -c touch% /tmp/pwned",
    "ext::ssh -oProxyCommand=x host",
    "fd::17",
    "hg::https://example.com/repo",
    "persistent-https::example.com/repo",
    "evil://example.com/repo",  # git would run git-remote-evil
    "http://example.com/repo.git",
    "git://example.com/repo.git",
    "-uhelp",
    "--upload-pack=touch /tmp/x",
    "ssh://-oProxyCommand=x/repo",
    "ssh://-user@host/repo",
    "git@-oProxyCommand=x:repo",
    "git@host:-oProxyCommand",
    "https://example.com/a/../../b",
    "https://example.com/a/%2e%2e/b",
    "/srv/../etc",
    "relative/path",
    "repo",
    "",
    "/srv/repo\n--foo",
    f"https://user:{TOKEN}@github.com/org/models.git",
    f"https://{TOKEN}@github.com/org/models.git",
    f"ssh://git:{TOKEN}@git.example.com/org/models.git",
    f"git:{TOKEN}@git.example.com:org/models.git",
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_both_layers_accept(value: str) -> None:
    formats.check_repository(value)
    assert source_git.check_repository(value)


@pytest.mark.parametrize("value", REFUSED)
def test_both_layers_refuse(value: str) -> None:
    with pytest.raises(FormatProblem):
        formats.check_repository(value)
    with pytest.raises(SourceError):
        source_git.check_repository(value)


@pytest.mark.parametrize("ref", ["-b", "--output=/tmp/x", "a..b", "main@{1}", "a b", "x~1", "x^", "feature/",
                                 "a.lock", "", ".hidden", "a/.b", "x:y", "@"])
def test_both_layers_refuse_refs(ref: str) -> None:
    with pytest.raises(FormatProblem):
        formats.check_ref(ref)
    with pytest.raises(SourceError):
        source_git.check_ref(ref)


def test_git_runs_only_the_accepted_transports() -> None:
    assert source_git._GIT_ENV["GIT_ALLOW_PROTOCOL"] == "https:ssh:file"


@pytest.mark.parametrize("value", [v for v in REFUSED if TOKEN in v])
def test_credential_errors_never_repeat_the_secret(value: str) -> None:
    with pytest.raises(SourceError) as info:
        source_git.check_repository(value)
    text = str(info.value)
    assert TOKEN not in text
    assert "credential helper" in text and "ssh keys" in text


SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata: {{name: m}}
source: {{repository: "{repository}", ref: main, path: models/m}}
serving:
  replicas: 1
  ports: {{rest: 18501, grpc: 18500}}
"""


def test_maas_validate_refuses_a_token_url_and_never_prints_it(tmp_path: Path, capsys) -> None:
    from maas_iac.cli import main as cli_main

    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC.format(repository=f"https://ci-bot:{TOKEN}@github.com/org/models.git"))
    result = validate_paths([spec])
    [problem] = result.problems
    assert problem.json_path == "$.source.repository"
    assert "credential helper" in (problem.fix or "")
    rendered = SpecError(result.problems).render() + json.dumps([p.to_dict() for p in result.problems])
    assert TOKEN not in rendered
    for output in ("text", "json"):
        code = cli_main.main(["validate", "--format", output, str(spec)])
        out, err = capsys.readouterr()
        assert code == 2
        assert TOKEN not in out + err


STACK = load_stack_config({"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
                           "kafka": {"bootstrapServers": "127.0.0.1:9092"}}, stack="unit")


def _spec(repository: str) -> ModelServiceSpec:
    """A spec built past the validator, as only code (never a user's file) can."""
    return ModelServiceSpec(
        metadata=Metadata(name="m"),
        source=Source(repository=repository, ref="main", path="models/m", versions=LatestVersions(count=1)),
        serving=Serving(ports=Ports(rest=8501, grpc=8500), base_image="127.0.0.1:5000/maas/serving:2.21.0"))


def test_a_token_url_past_the_spec_check_leaves_no_trace(model_repo, tmp_path: Path) -> None:
    """The Git layer refuses it again before any mirror, label, context or event exists."""
    cache = tmp_path / "cache"
    url = f"https://ci-bot:{TOKEN}@github.com/org/models.git"
    with pytest.raises(SourceError) as info:
        Resolver(cache).resolve(_spec(url), STACK)
    assert TOKEN not in str(info.value)
    assert not cache.exists() or not any(cache.rglob("*"))
    with pytest.raises(SourceError):
        GitMirror(cache / "git").resolve(url, "main")
    assert GitMirror(cache / "git").subject(url, "0" * 40) is None


def test_labels_and_event_args_carry_only_the_checked_repository(model_repo, tmp_path: Path) -> None:
    """What a resolved model puts in image labels and deployment events is the spec's
    repository as validated: so a refused URL can never reach them."""
    from maas_iac.events.schema import deployed_event

    resolved = Resolver(tmp_path / "cache").resolve(_spec(str(model_repo.path)), STACK)
    event = deployed_event(model="m", stack="local", git_sha=resolved.revision.sha,
                           repository=resolved.revision.repository, digest=resolved.digest,
                           image=f"127.0.0.1:5000/maas/m:{resolved.tag}", versions=[1], replicas=1)
    assert resolved.recipe.labels["org.opencontainers.image.source"] == str(model_repo.path)
    assert event["repository"] == str(model_repo.path)
    assert f'LABEL org.opencontainers.image.source={json.dumps(str(model_repo.path))}' in (
        resolved.context / "Dockerfile").read_text()


def test_allowed_sources_patterns(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models" / "a").mkdir(parents=True)
    allowed = ["github.com/my-org/*", "git.internal:ml/**", "*.corp.example:team"]
    yes = ["https://github.com/my-org/models.git", "git@github.com:my-org/models.git",
           "ssh://git@github.com/my-org/models", "ssh://git@git.internal:2222/ml/a/b/c.git",
           "git.internal:ml/x.git", "https://git.corp.example/team"]
    no = ["https://github.com/other-org/models.git", "https://github.com/my-org/sub/models.git",
          "https://github.com.evil.example/my-org/models.git", "git@git.internal:other/x.git",
          "/srv/git/models", "file:///srv/git/models", "https://corp.example/team/x"]
    for value in yes:
        assert urls.source_allowed(value, allowed), value
    for value in no:
        assert not urls.source_allowed(value, allowed), value
    assert urls.source_allowed("/srv/git/models", ["local"])
    assert urls.source_allowed("file:///srv/git/models", ["local"])
    assert not urls.source_allowed("https://github.com/my-org/models.git", ["local"])
    assert urls.source_allowed("~/models/a", ["local:~/models/*"])
    assert urls.source_allowed(str(tmp_path / "models" / "a"), ["local:~/models/*"])
    assert not urls.source_allowed("/srv/git/models", ["local:~/models/*"])
    assert not urls.source_allowed("ext::sh -c x", ["**", "local"])
    for bad in ["", "local:relative", "*", "a b", "host/../x"]:
        assert urls.source_pattern_problem(bad), bad


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_pieces = st.sampled_from(["https://", "ssh://", "file://", "http://", "ext::", "git@", "user:", "@", ":", "/",
                           "..", "%2e", "-", "~", "host.example", "org", "repo.git", " ", "\n", "::", "[::1]"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces | st.text(max_size=6), max_size=8).map("".join))
def test_the_two_layers_agree_on_any_text(value: str) -> None:
    try:
        formats.check_repository(value)
        spec_ok = True
    except FormatProblem:
        spec_ok = False
    try:
        source_git.check_repository(value)
        git_ok = True
    except SourceError:
        git_ok = False
    assert spec_ok == git_ok


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["https://u:{}@h.example/r", "https://{}@h.example/r", "ssh://git:{}@h.example/r",
                        "git:{}@h.example:r"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=12, max_size=30))
def test_a_secret_in_the_url_is_never_repeated(template: str, secret: str) -> None:
    value = template.format(secret)
    with pytest.raises(SourceError) as info:
        source_git.check_repository(value)
    assert secret not in str(info.value)
