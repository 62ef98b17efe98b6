"""Which models to serve: ``--model_config_file`` (TF Serving's text format) or the flags.

The file is parsed with ``tensorflow_serving.config.model_server_config_pb2`` and
``google.protobuf.text_format``, so anything TF Serving accepts parses the same way; only
``model_config_list`` with ``model_platform: "tensorflow"`` (or unset) can be served.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from .errors import ServingError

__all__ = ["ModelConfig", "VersionPolicy", "load_config_file", "parse_config_text",
           "config_from_flags", "models_from_proto"]


@dataclass(frozen=True)
class VersionPolicy:
    kind: str  # "latest" | "specific" | "all"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, candidates: list[int]) -> list[int]:
        """The versions to serve among the loadable ones, newest first."""
        ordered = sorted(candidates, reverse=True)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[: self.num_versions]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    policy: VersionPolicy
    labels: tuple[tuple[str, int], ...] = ()

    @property
    def label_map(self) -> dict[str, int]:
        return dict(self.labels)


def parse_config_text(text: str, path: str | None = None) -> model_server_config_pb2.ModelServerConfig:
    """Parse a ModelServerConfig text proto. As TF Serving: protobuf's own complaint is logged
    (``Error parsing text-format tensorflow.serving.ModelServerConfig: 1:1: ...``) and the
    error is ``Invalid protobuf file: '<path>'`` (INVALID_ARGUMENT)."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        from . import log

        log.error("text_format", f"Error parsing text-format tensorflow.serving.ModelServerConfig: {err}")
        if path is None:
            raise ServingError("INVALID_ARGUMENT", f"Invalid model config: {err}") from None
        raise ServingError("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'") from None
    return config


def load_config_file(path: str) -> model_server_config_pb2.ModelServerConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise ServingError("NOT_FOUND", f"{path}; {err.strerror}") from None
    return parse_config_text(text, path)


def _policy(cfg) -> VersionPolicy:
    policy = cfg.model_version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy("all")
    if which == "specific":
        if not policy.specific.versions:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Model {cfg.name}: model_version_policy.specific must list at least one version",
            )
        return VersionPolicy("specific", versions=tuple(policy.specific.versions))
    if which == "latest":
        n = policy.latest.num_versions or 1
        if n < 1:
            raise ServingError("INVALID_ARGUMENT", f"Model {cfg.name}: latest.num_versions must be >= 1")
        return VersionPolicy("latest", num_versions=n)
    return VersionPolicy("latest", num_versions=1)


def models_from_proto(
    config: model_server_config_pb2.ModelServerConfig, *, relative_to: str | None = None
) -> list[ModelConfig]:
    """Validate a ModelServerConfig and turn it into ``ModelConfig`` values."""
    which = config.WhichOneof("config")
    if which == "custom_model_config":
        raise ServingError("UNIMPLEMENTED", "custom_model_config is not supported; use model_config_list")
    models: list[ModelConfig] = []
    seen: set[str] = set()
    for cfg in config.model_config_list.config:
        if not cfg.name:
            raise ServingError("INVALID_ARGUMENT", "Model config entry without a name")
        if cfg.name in seen:
            raise ServingError("INVALID_ARGUMENT", f"Illegal to list model {cfg.name} multiple times in config list")
        seen.add(cfg.name)
        if not cfg.base_path:
            raise ServingError("INVALID_ARGUMENT", f"Model {cfg.name} has no base_path")
        if cfg.model_platform not in ("", "tensorflow"):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Model {cfg.name}: model_platform {cfg.model_platform!r} is not supported (only tensorflow)",
            )
        base = cfg.base_path
        if relative_to and not os.path.isabs(base) and "://" not in base:
            base = os.path.join(relative_to, base)
        models.append(
            ModelConfig(
                name=cfg.name,
                base_path=os.path.abspath(base),
                policy=_policy(cfg),
                labels=tuple(sorted(cfg.version_labels.items())),
            )
        )
    return models


def config_from_flags(model_name: str, model_base_path: str) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add()
    entry.name = model_name
    entry.base_path = model_base_path
    entry.model_platform = "tensorflow"
    return config
