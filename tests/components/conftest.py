"""Pulumi mocks that record every registration, for component tests without an engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor


@dataclass
class Registration:
    type_: str
    name: str
    inputs: dict[str, Any]
    parent: str | None = None
    urn: str | None = None
    protect: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    """The inputs as sent to the engine, secrets still wrapped (``is_secret`` reads them)."""
    provider: str = ""
    """The explicit provider reference (``urn::id``), empty for the default provider."""
    dependencies: list[str] = field(default_factory=list)
    """URNs of the resources it was registered after (``depends_on``, expanded)."""

    def is_secret(self, *path: str) -> bool:
        """Whether the input at ``path`` went to the engine as a Pulumi secret."""
        value: Any = self.raw
        for key in path:
            value = value[key]
        return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every resource with its inputs as outputs, recording what was registered."""

    registrations: list[Registration] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ.endswith(":RegistryImage"):
            digest = args.inputs.get("pinned_digest") or f"sha256:{'ab' * 32}"
            outputs["repo_digest"] = f"{args.inputs['registry']}/{args.inputs['repository']}@{digest}"
            outputs["image_ref"] = f"{args.inputs['registry']}/{args.inputs['repository']}:{args.inputs['tag']}"
        if args.typ.endswith(":Container"):
            # Shaped like Docker's: 64 hex digits (stable per resource name).
            outputs.setdefault("container_id", hashlib.sha256(args.name.encode()).hexdigest())
            outputs["name"] = args.inputs.get("name") or f"{args.inputs.get('name_prefix', 'maas')}-0000"
        if args.typ == "kubernetes:core/v1:Service" and args.inputs.get("spec", {}).get("type") == "NodePort":
            # the cluster picks the node ports; stable per resource name here
            base = 30000 + int(hashlib.sha256(args.name.encode()).hexdigest()[:4], 16) % 2000
            outputs["spec"] = {**args.inputs["spec"], "ports": [{**p, "nodePort": base + i}
                                                               for i, p in enumerate(args.inputs["spec"]["ports"])]}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None

    def by_name(self) -> dict[str, Registration]:
        return {r.name: r for r in self.registrations}


class RecordingMonitor(MockMonitor):
    """Records every registration, components included, with its parent's URN."""

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties_unwrap_secrets(request.object)[0] if request.custom else {}
        raw = json_format.MessageToDict(request.object) if request.custom else {}
        self.mocks.registrations.append(
            Registration(request.type, request.name, dict(inputs), request.parent or None, response.urn,
                         bool(request.protect), raw, request.provider, list(request.dependencies)))
        return response


def _install(preview: bool, stack: str = "local") -> RecordingMocks:
    m = RecordingMocks()
    pulumi.runtime.set_mocks(m, project="maas-iac", stack=stack, preview=preview, monitor=RecordingMonitor(m))
    return m


@pytest.fixture
def mocks() -> RecordingMocks:
    return _install(preview=False)


@pytest.fixture
def preview_mocks() -> RecordingMocks:
    return _install(preview=True)


@pytest.fixture
def install_mocks():
    """``install_mocks(stack, preview=True)``: recording mocks for another stack name."""
    return lambda stack, preview=True: _install(preview=preview, stack=stack)


@pytest.fixture
def program_inputs(tmp_path, monkeypatch):
    """``program_inputs(spec, config, repo_path)``: models ``a`` (ports 8501/8500) and ``b``
    (8601/8600) from ``spec`` (a format string with ``name``, ``repo``, ``rest``, ``grpc``) and
    the stack ``config``, where the program reads them."""
    return lambda spec, config, repo_path: _program_inputs(tmp_path, monkeypatch, spec, config, repo_path)


def _program_inputs(tmp_path, monkeypatch, spec: str, config: dict[str, str], repo_path) -> None:
    import json

    models = tmp_path / "models"
    models.mkdir()
    for name, rest, grpc in (("a", 8501, 8500), ("b", 8601, 8600)):
        (models / f"{name}.yaml").write_text(spec.format(name=name, repo=repo_path, rest=rest, grpc=grpc))
    monkeypatch.setenv("MAAS_MODELS_DIR", str(models))
    monkeypatch.setenv("MAAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    # The fixture's version directories are SavedModel-shaped bytes, not loadable models.
    monkeypatch.setattr("maas_iac.program.check_loadable", lambda *args, **kwargs: None)
