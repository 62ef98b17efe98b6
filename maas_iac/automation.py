"""The Pulumi engine under the ``maas`` CLI and the tests: Automation API stacks of this project.

A stack is always the project's real program (``__main__.py`` → :mod:`maas_iac.program`) run by
the pinned engine on the file backend. :func:`scratch_project` lays out a separate project
directory (own ``models/`` and stack file) for tests and benchmarks, so they never touch the
checkout's ``models/``, ``stacks/`` or state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from pulumi import automation as auto

from maas_iac.stack_secrets import LOCAL_PASSPHRASE, LOCAL_STACK

__all__ = ["PROJECT_ROOT", "engine_env", "scratch_project", "select_stack"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout: Pulumi.yaml, __main__.py, models/, stacks/."""



def engine_env(project_dir: Path = PROJECT_ROOT, extra: Optional[Mapping[str, str]] = None, *,
               stack: Optional[str] = None) -> dict[str, str]:
    """Environment for the engine: the file backend in ``<project>/.pulumi-state`` unless
    PULUMI_BACKEND_URL is set, and no update check. The ``local`` stack gets its well-known
    passphrase when none is set; any other stack only what the caller's environment holds
    (:mod:`maas_iac.stack_secrets`)."""
    env = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL") or f"file://{project_dir}/.pulumi-state",
    }
    passphrase_set = "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ
    if stack == LOCAL_STACK and not passphrase_set:
        env["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
    env.update(extra or {})
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"][len("file://"):]).mkdir(parents=True, exist_ok=True)
    return env


def select_stack(stack: str, project_dir: Path = PROJECT_ROOT, *, create: bool = True,
                 env: Optional[Mapping[str, str]] = None) -> auto.Stack:
    """The Automation API stack ``stack`` of the project in ``project_dir`` (created if asked)."""
    opts = auto.LocalWorkspaceOptions(work_dir=str(project_dir), env_vars=engine_env(project_dir, env, stack=stack))
    if create:
        return auto.create_or_select_stack(stack, work_dir=str(project_dir), opts=opts)
    return auto.select_stack(stack, work_dir=str(project_dir), opts=opts)


def scratch_project(dest: Path, stack: str, config: Mapping[str, Any], models: Mapping[str, str]) -> Path:
    """Lay out a project in ``dest`` running this project's program with its own stack file
    (``config``: ``maas:`` keys → values) and model specs (file name → YAML text)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "models").mkdir(exist_ok=True)
    (dest / "stacks").mkdir(exist_ok=True)
    (dest / "Pulumi.yaml").write_text(
        "name: maas-iac\n"
        "runtime:\n  name: python\n  options:\n"
        f"    virtualenv: {PROJECT_ROOT / '.venv'}\n"
        "stackConfigDir: stacks\n"
        "options:\n  refresh: always\n"
    )
    (dest / "__main__.py").write_text((PROJECT_ROOT / "__main__.py").read_text())
    lines = ["config:"]
    for key, value in config.items():
        lines.append(f"  {key}: {json.dumps(value)}")
    (dest / "stacks" / f"Pulumi.{stack}.yaml").write_text("\n".join(lines) + "\n")
    for name, text in models.items():
        (dest / "models" / name).write_text(text)
    return dest
