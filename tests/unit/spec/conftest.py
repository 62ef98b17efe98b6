"""Helpers for writing spec and stack files into a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SPEC = """\
apiVersion: maas-iac/v1
kind: ModelService
metadata:
  name: {name}
source:
  repository: https://github.com/example/models.git
  ref: v1
{source_extra}serving:
  replicas: 2
  ports:
    rest: {rest}
    grpc: {grpc}
"""

STACK = """\
config:
  maas:registry: 127.0.0.1:5000
  maas:dockerHost: unix:///var/run/docker.sock
  maas:kafka:
    bootstrapServers: "127.0.0.1:9092"
{extra}  maas:allowedSources: [github.com/example/*]
"""


def make_spec_text(name: str = "m", rest: int = 8501, grpc: int = 8500, source_extra: str = "") -> str:
    """A valid spec; ``source_extra`` lines go under ``source:``."""
    return SPEC.format(name=name, rest=rest, grpc=grpc, source_extra=source_extra)


@pytest.fixture
def spec_text() -> Callable[..., str]:
    """``spec_text(name=..., rest=..., grpc=..., source_extra=...)`` → valid spec YAML."""
    return make_spec_text


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("name.yaml", text)`` → the path of the written file."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def write_spec(write: Callable[[str, str], Path]) -> Callable[..., Path]:
    def _write_spec(file: str, **kw: object) -> Path:
        return write(file, make_spec_text(**kw))  # type: ignore[arg-type]

    return _write_spec


@pytest.fixture
def write_stack(write: Callable[[str, str], Path]) -> Callable[..., Path]:
    def _write_stack(stack: str, extra: str = "") -> Path:
        return write(f"Pulumi.{stack}.yaml", STACK.format(extra=extra))

    return _write_stack
