"""The example model repository that ``make demo`` deploys: a real Git repository, outside the
checkout, holding the half-plus-two model as SavedModel version directories.

    python -m maas_iac.examples.example_repo [PATH]

Creates ``PATH`` (default ``$MAAS_CACHE/example-models/half-plus-two``) once: version 1 is
trained, committed on ``main`` and tagged ``v1``. Later runs find the tag and do nothing, so the
model's content, and so its image tag, stays the same from one demo to the next.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from maas_iac.examples.half_plus_two import export

__all__ = ["MODEL_PATH", "default_path", "ensure_example_repo"]

MODEL_PATH = "models/half_plus_two"
"""The model base directory inside the repository (the spec's ``source.path``)."""


def default_path() -> Path:
    cache = Path(os.environ.get("MAAS_CACHE") or Path.home() / ".cache" / "maas-iac")
    return cache / "example-models" / "half-plus-two"


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "maas-iac example", "GIT_AUTHOR_EMAIL": "example@maas-iac.invalid",
           "GIT_COMMITTER_NAME": "maas-iac example", "GIT_COMMITTER_EMAIL": "example@maas-iac.invalid"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def ensure_example_repo(path: Path | None = None) -> Path:
    """Create the example repository at ``path`` unless it already has its ``v1`` tag."""
    repo = Path(path or default_path())
    if (repo / ".git").exists() and _git(repo, "tag", "--list", "v1"):
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        _git(repo, "init", "-q", "-b", "main")
    export(repo / MODEL_PATH, 1)
    (repo / "README.md").write_text("TF Serving's half_plus_two example model (y = 0.5 * x + 2), trained by maas-iac.\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "half-plus-two: version 1")
    _git(repo, "tag", "v1")
    return repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    print(ensure_example_repo(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
