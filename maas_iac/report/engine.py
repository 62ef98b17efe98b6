"""A project's stack, opened for a read-only preview by ``maas preview`` and ``maas drift``.

Before the engine runs, the project's model specs and the stack file are validated in this
process, so spec mistakes come back as the usual list (exit 2) rather than as the program's
one-line failure. When the engine fails anyway, :func:`engine_failure` decides between an
unreachable service (exit 3) and the stack's inputs (exit 2) by probing the services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from maas_iac.errors import InfrastructureError, MaasError, SpecError
from maas_iac.spec import StackConfig

__all__ = ["EngineFailure", "StackTarget", "engine_failure", "open_target"]


class EngineFailure(MaasError):
    """Raised when the preview fails for a reason in the stack's inputs (a program error, a
    provider refusing a change); the message holds the engine's error diagnostics."""

    exit_code = 2


@dataclass(frozen=True)
class StackTarget:
    """A validated project directory and stack, and the stack's config from its file."""

    project: Path
    stack_name: str
    config: StackConfig

    def open(self) -> Any:
        """The Automation API stack (raises :class:`MaasError` if it was never created)."""
        from pulumi import automation as auto

        from maas_iac.automation import select_stack

        try:
            return select_stack(self.stack_name, self.project, create=False)
        except auto.StackNotFoundError:
            raise MaasError(f"stack {self.stack_name!r} does not exist in {self.project} "
                            f"(backend {os.environ.get('PULUMI_BACKEND_URL') or 'file://' + str(self.project / '.pulumi-state')}); "
                            f"deploy it first: pulumi up --stack {self.stack_name} --cwd {self.project}") from None


def _models_dir(project: Path) -> Path:
    return Path(os.environ.get("MAAS_MODELS_DIR") or project / "models")


def open_target(stack: str, cwd: Optional[str]) -> StackTarget:
    """Validate ``cwd`` 's models and ``stacks/Pulumi.<stack>.yaml``; raise :class:`SpecError`
    with every problem, or :class:`MaasError` when the project or stack file is missing."""
    from maas_iac.spec.load import validate_paths

    project = Path(cwd or Path.cwd()).resolve()
    if not (project / "Pulumi.yaml").is_file():
        raise MaasError(f"{project} holds no Pulumi.yaml; run in the project directory or pass --cwd DIR")
    stack_file = project / "stacks" / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise MaasError(f"no stack file {stack_file}; is the stack name right? "
                        f"(stacks: {', '.join(sorted(p.name[7:-5] for p in (project / 'stacks').glob('Pulumi.*.yaml'))) or 'none'})")
    result = validate_paths([str(_models_dir(project)), str(stack_file)])
    if not result.ok:
        raise SpecError(result.problems)
    return StackTarget(project=project, stack_name=stack, config=result.stacks[0])


def engine_failure(exc: Exception, errors: list[str], config: StackConfig,
                   services: tuple[str, ...] = ("docker", "registry", "kafka")) -> MaasError:
    """The error to report for a failed preview: :class:`InfrastructureError` naming every
    service that does not answer, else :class:`EngineFailure` with the engine's diagnostics."""
    from maas_iac.drift.services import unreachable

    down = unreachable(config, services)
    if down:
        return InfrastructureError("; ".join(down) + " (scripts/services status)")
    if errors:
        return EngineFailure("the preview failed:\n" + "\n".join(f"  {line}" for e in errors for line in e.splitlines()))
    text = str(exc).strip().splitlines()
    return InfrastructureError(f"the Pulumi engine failed: {text[0] if text else type(exc).__name__}")
