"""The router's request filter: only inference and status calls reach the replicas."""

from __future__ import annotations

import re

import pytest

from maas_iac.artifacts.router_config import GRPC_ALLOWED, RouterConfig, render_router_config

MODEL = "half-plus-two"


@pytest.fixture(scope="module")
def cfg() -> str:
    return render_router_config(RouterConfig(model_name=MODEL, replica_alias=f"{MODEL}-replicas", slots=8))


def _section(cfg: str, header: str) -> str:
    block = cfg.split(f"\n{header}\n", 1)[1]
    return block.split("\n\n", 1)[0]


def _rest_patterns(cfg: str) -> dict[str, re.Pattern]:
    out = {}
    for line in _section(cfg, "frontend rest").splitlines():
        m = re.fullmatch(r"\s*acl (\w+) path_reg -i (\S+)", line)
        if m:
            out[m.group(1)] = re.compile(m.group(2), re.IGNORECASE)
    return out


def _rest_allowed(cfg: str, method: str, path: str) -> bool:
    p = _rest_patterns(cfg)
    return ((method == "POST" and bool(p["rest_infer"].search(path)))
            or (method in ("GET", "HEAD") and bool(p["rest_status"].search(path))))


@pytest.mark.parametrize("method,path", [
    ("POST", f"/v1/models/{MODEL}:predict"),
    ("POST", f"/v1/models/{MODEL}:classify"),
    ("POST", f"/v1/models/{MODEL}:regress"),
    ("POST", f"/v1/models/{MODEL}/versions/2:predict"),
    ("POST", f"/v1/models/{MODEL}/labels/stable:predict"),
    ("GET", f"/v1/models/{MODEL}"),
    ("GET", f"/v1/models/{MODEL}/versions/1"),
    ("GET", f"/v1/models/{MODEL}/labels/canary"),
    ("GET", f"/v1/models/{MODEL}/metadata"),
    ("GET", f"/v1/models/{MODEL}/versions/1/metadata"),
])
def test_inference_and_status_pass(cfg, method, path):
    assert _rest_allowed(cfg, method, path)


@pytest.mark.parametrize("method,path", [
    ("GET", f"/v1/models/{MODEL}:predict"),
    ("PUT", f"/v1/models/{MODEL}:predict"),
    ("DELETE", f"/v1/models/{MODEL}"),
    ("POST", f"/v1/models/{MODEL}"),
    ("POST", f"/v1/models/{MODEL}/metadata"),
    ("POST", f"/v1/models/{MODEL}:reload"),
    ("POST", f"/v1/models/{MODEL}:predict/x"),
    ("POST", "/v1/models/other:predict"),
    ("GET", "/v1/models"),
    ("GET", f"/v1/models/{MODEL}x"),
    ("GET", f"/v1/models/{MODEL}/versions/x"),
    ("GET", "/monitoring/prometheus/metrics"),
    ("GET", "/"),
    ("POST", "/tensorflow.serving.ModelService/HandleReloadConfigRequest"),
])
def test_everything_else_is_refused(cfg, method, path):
    assert not _rest_allowed(cfg, method, path)


def test_rest_refusals_are_403_json(cfg):
    rest = _section(cfg, "frontend rest")
    assert "http-request return status 403 content-type application/json" in rest
    assert rest.index("http-request return") < rest.index("default_backend")


def test_grpc_allows_exactly_inference_and_status(cfg):
    grpc = _section(cfg, "frontend grpc")
    (acl,) = [line.split()[3:] for line in grpc.splitlines() if line.strip().startswith("acl grpc_allowed")]
    assert tuple(acl) == GRPC_ALLOWED
    assert {p.rsplit("/", 1)[1] for p in acl} == {
        "Predict", "Classify", "Regress", "MultiInference", "GetModelMetadata", "GetModelStatus"}
    assert not any("HandleReloadConfigRequest" in p or "Profiler" in p for p in acl)


def test_grpc_refusals_are_trailers_only_permission_denied(cfg):
    grpc = _section(cfg, "frontend grpc")
    assert "unless METH_POST grpc_allowed" in grpc
    assert re.search(r"http-request return status 200 hdr grpc-status 7 hdr grpc-message \"[^\"]+\" "
                     r"if \{ var\(txn.refused\) -m bool \}", grpc)
    assert "http-after-response set-header content-type application/grpc if { var(txn.refused) -m bool }" in grpc
    assert grpc.index("http-request return") < grpc.index("default_backend")


def test_health_checks_bypass_the_filter(cfg):
    # Checks go from the backends straight to the replicas, not through the frontends.
    for backend in ("backend replicas_rest", "backend replicas_grpc"):
        assert f"http-check send meth GET uri /v1/models/{MODEL}" in _section(cfg, backend)


@pytest.mark.parametrize("name", ["Bad", "a b", "a.*", "-a", "a'", "m\n    http-request allow"])
def test_only_dns_labels_reach_the_patterns(name):
    with pytest.raises(ValueError):
        RouterConfig(model_name=name, replica_alias="r", slots=8)
