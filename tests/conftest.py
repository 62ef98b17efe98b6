"""Shared fixtures: real Git repositories made in a temporary directory, shaped like model repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


class ModelRepo:
    """A Git working repository with SavedModel-shaped version directories."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "ml@example.com")
        self.git("config", "user.name", "ML Engineer")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def write_version(self, version: int, payload: bytes, base: str = "models/m") -> None:
        d = self.path / base / str(version)
        (d / "variables").mkdir(parents=True, exist_ok=True)
        (d / "saved_model.pb").write_bytes(b"pb:" + payload)
        (d / "variables" / "variables.index").write_bytes(b"idx:" + payload)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def model_repo(tmp_path: Path) -> ModelRepo:
    repo = ModelRepo(tmp_path / "model-repo")
    repo.write_version(1, b"one")
    repo.commit("first model")
    repo.git("tag", "v1")
    return repo
