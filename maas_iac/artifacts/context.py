"""The model image's build context: Dockerfile, ``models.config``, batching parameters and the
served version directories, byte-for-byte reproducible from the same inputs.

The image is ``FROM`` the serving base with one layer per served version directory, so a new
model version pushes only its own bytes. Every file in the context gets the same fixed mtime,
so the same inputs always give the same layers. The image is tagged ``md-<digest[:12]>`` where
the digest covers the served model files, the rendered serving configuration and the base
image reference: the tag is known at preview time, before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from maas_iac.source.model_tree import ModelTree

__all__ = [
    "IMAGE_LABELS",
    "Batching",
    "ImageRecipe",
    "render_batching_parameters",
    "render_models_config",
    "write_context",
]

MODEL_ROOT = "/models"
"""Where the image keeps its models, as in the official TF Serving image."""

CONTEXT_MTIME = 315532800.0
"""1980-01-01T00:00:00Z: the fixed mtime of every context file (zip-safe, unlike 0)."""

IMAGE_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.title",
    "io.maas-iac.model-digest",
    "io.maas-iac.model-versions",
)
"""The labels :attr:`ImageRecipe.labels` sets, which tie a model image to its source."""

# Bumped whenever the rendered Dockerfile changes shape, so old tags are not reused for new layouts.
_RECIPE_FORMAT = "1"


@dataclass(frozen=True)
class Batching:
    """TF Serving's batching parameters (``--batching_parameters_file``)."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides a model image's content, and so its tag.

    Frozen, so the rendered config and the digest are computed once and kept."""

    model_name: str
    tree: ModelTree
    base_image: str
    version_labels: dict[str, int] = field(default_factory=dict)
    batching: Batching | None = None

    @cached_property
    def models_config(self) -> str:
        return render_models_config(self.model_name, self.tree.served, self.version_labels)

    @cached_property
    def batching_parameters(self) -> str | None:
        return render_batching_parameters(self.batching) if self.batching else None

    @cached_property
    def digest(self) -> str:
        """The model digest: served files, rendered serving config and base image reference."""
        return self.tree.digest(
            _RECIPE_FORMAT.encode(),
            self.base_image.encode(),
            self.models_config.encode(),
            (self.batching_parameters or "").encode(),
        )

    @property
    def tag(self) -> str:
        """The content-addressed image tag, ``md-<digest[:12]>``."""
        return f"md-{self.digest[:12]}"

    @property
    def labels(self) -> dict[str, str]:
        """OCI labels tying the image to its source."""
        rev = self.tree.revision
        values = (rev.repository, rev.sha, self.model_name, self.digest, ",".join(map(str, self.tree.served)))
        return dict(zip(IMAGE_LABELS, values))

    @property
    def server_args(self) -> list[str]:
        """Arguments after the serving image's entrypoint, the same for the official image."""
        args = [f"--model_config_file={MODEL_ROOT}/models.config"]
        if self.batching:
            args += ["--enable_batching=true", f"--batching_parameters_file={MODEL_ROOT}/batching.config"]
        return args

    def dockerfile(self) -> str:
        lines = [f"FROM {self.base_image}"]
        for key, value in sorted(self.labels.items()):
            lines.append(f"LABEL {key}={json.dumps(value)}")
        lines.append(f"ENV MODEL_NAME={self.model_name}")
        lines.append(f"COPY models.config {MODEL_ROOT}/models.config")
        if self.batching:
            lines.append(f"COPY batching.config {MODEL_ROOT}/batching.config")
        # One layer per version: a new version adds one layer and reuses the others.
        for v in self.tree.served:
            lines.append(f"COPY model/{v} {MODEL_ROOT}/{self.model_name}/{v}")
        lines.append("CMD " + json.dumps(self.server_args))
        return "\n".join(lines) + "\n"


def render_models_config(name: str, versions: tuple[int, ...], labels: dict[str, int]) -> str:
    """``models.config`` in TF Serving's text format, serving exactly ``versions``."""
    out = [
        "model_config_list {",
        "  config {",
        f'    name: "{name}"',
        f'    base_path: "{MODEL_ROOT}/{name}"',
        '    model_platform: "tensorflow"',
        "    model_version_policy {",
        "      specific {",
    ]
    out += [f"        versions: {v}" for v in versions]
    out += ["      }", "    }"]
    for label, version in sorted(labels.items()):
        out += ["    version_labels {", f'      key: "{label}"', f"      value: {version}", "    }"]
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def render_batching_parameters(b: Batching) -> str:
    """TF Serving's ``--batching_parameters_file`` text format."""
    return (
        f"max_batch_size {{ value: {b.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {b.batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {b.num_batch_threads} }}\n"
        f"max_enqueued_batches {{ value: {b.max_enqueued_batches} }}\n"
    )


def write_context(recipe: ImageRecipe, dest: Path) -> Path:
    """Write the build context for ``recipe`` into ``dest`` (emptied first) and return it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / "Dockerfile").write_text(recipe.dockerfile())
    (dest / "models.config").write_text(recipe.models_config)
    if recipe.batching_parameters:
        (dest / "batching.config").write_text(recipe.batching_parameters)
    recipe.tree.export(dest / "model", mtime=CONTEXT_MTIME)
    for p in dest.rglob("*"):
        os.utime(p, (CONTEXT_MTIME, CONTEXT_MTIME), follow_symlinks=False)
    return dest


def context_fingerprint(dest: Path) -> str:
    """sha256 over every path, mode, mtime and byte in a context (what Docker's COPY sees)."""
    h = hashlib.sha256()
    for p in sorted(dest.rglob("*")):
        st = p.lstat()
        h.update(f"{p.relative_to(dest)}\0{st.st_mode:o}\0{int(st.st_mtime)}\n".encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()
