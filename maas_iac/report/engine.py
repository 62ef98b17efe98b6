"""A project's stack, opened for a read-only preview by ``maas preview`` and ``maas drift``.

The project's model specs and stack file are validated in this process, so spec mistakes
come back as the usual list (exit 2) rather than as the program's one-line failure. The
validation runs on a thread while the engine previews (the engine spends seconds in its own
processes; validating first would add to every run's wall time); its verdict is read before
the preview's, so an invalid spec is always reported as such. When the engine fails with
valid specs, :func:`engine_failure` tells a stack that does not exist or an unreachable
service (exit 3) from a failure in the stack's inputs (exit 2).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from maas_iac.errors import InfrastructureError, MaasError, SpecError

if TYPE_CHECKING:
    from maas_iac.spec import StackConfig

__all__ = ["EngineFailure", "engine_failure", "open_stack", "project_dir", "validate_target"]


class EngineFailure(MaasError):
    """Raised when the preview fails for a reason in the stack's inputs (a program error, a
    provider refusing a change); the message holds the engine's error diagnostics."""

    exit_code = 2


def project_dir(cwd: Optional[str], stack: str) -> Path:
    """The project directory (``cwd`` or the current one); raises :class:`MaasError` when it
    has no ``Pulumi.yaml`` or no ``stacks/Pulumi.<stack>.yaml``."""
    project = Path(cwd or Path.cwd()).resolve()
    if not (project / "Pulumi.yaml").is_file():
        raise MaasError(f"{project} holds no Pulumi.yaml; run in the project directory or pass --cwd DIR")
    stack_file = project / "stacks" / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (project / "stacks").glob("Pulumi.*.yaml"))
        raise MaasError(f"no stack file {stack_file}; is the stack name right? (stacks: {', '.join(known) or 'none'})")
    return project


def validate_target(project: Path, stack: str) -> StackConfig:
    """Validate the project's models (``$MAAS_MODELS_DIR`` or ``models/``) with the stack file;
    the stack's config, or :class:`SpecError` with every problem."""
    from maas_iac.spec.load import validate_paths

    models = Path(os.environ.get("MAAS_MODELS_DIR") or project / "models")
    result = validate_paths([str(models), str(project / "stacks" / f"Pulumi.{stack}.yaml")])
    if not result.ok:
        raise SpecError(result.problems)
    return result.stacks[0]


def engine_config(handle: Any, stack: StackConfig) -> StackConfig:
    """``stack`` as the engine decrypts it: the stack file holds its secrets (the Kafka
    and registry passwords) as ciphertext, and the CLI's own clients need them in the clear, in memory."""
    from maas_iac.spec import STACK_CONFIG_KEYS, load_stack_config

    if stack.kafka.sasl_password is None and not stack.kafka_users and stack.registry_auth.password is None:
        return stack
    values = handle.get_all_config()
    mapping = {key: values[f"maas:{key}"].value for key in STACK_CONFIG_KEYS if f"maas:{key}" in values}
    return load_stack_config(mapping, stack=stack.stack)


def open_stack(project: Path, stack: str, env: Optional[Mapping[str, str]] = None) -> Any:
    """The Automation API stack ``stack`` of ``project``, on the backend :mod:`maas_iac.automation`
    picks, without ``pulumi stack select``: every operation names the stack anyway, and a
    missing stack is reported by :func:`engine_failure` when the preview fails. ``env`` is added
    to the engine's environment for this stack only."""
    from pulumi import automation as auto
    from pulumi.automation._stack import StackInitMode

    from maas_iac.automation import engine_env
    from maas_iac.stack_secrets import check_secrets_provider

    cli = shutil.which("pulumi")
    if cli is None:
        raise InfrastructureError('the pulumi CLI is not on PATH; run make setup, then eval "$(scripts/env)"')
    env = engine_env(project, env, stack=stack)
    check_secrets_provider(stack, {**os.environ, **env}, project / "stacks" / f"Pulumi.{stack}.yaml")
    workspace = auto.LocalWorkspace(work_dir=str(project), env_vars=env,
                                    pulumi_command=_pinned_command(cli))
    handle = object.__new__(auto.Stack)
    # Stack.__init__ would only add the select round trip; these are all a Stack holds.
    handle.name, handle.workspace, handle._mode = stack, workspace, StackInitMode.SELECT
    return handle


def _pinned_command(cli: str) -> Any:
    """The Automation API's handle on ``cli``. For the project's own engine (installed by
    scripts/setup_pulumi.sh as ``…/pulumi-v<version>/bin/pulumi``) the version is known from
    where it lives, which saves the ``pulumi version`` round trip (a sixth of a preview's
    overhead); any other pulumi gets the SDK's usual probe and check."""
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    match = _PINNED_CLI.search(str(Path(cli).resolve()))
    if not match:
        return PulumiCommand()
    command = object.__new__(PulumiCommand)
    command.command, command.version = cli, VersionInfo.parse(match["version"])
    return command


_PINNED_CLI = re.compile(r"/pulumi-v(?P<version>\d+\.\d+\.\d+)/bin/pulumi$")


def engine_failure(exc: Exception, errors: list[str], config: StackConfig, stack: Any,
                   services: tuple[str, ...] = ("docker", "registry", "kafka")) -> MaasError:
    """The error to report for a failed preview, in this order: the stack does not exist
    (:class:`MaasError`, exit 2); a service does not answer (:class:`InfrastructureError`);
    the engine's error diagnostics (:class:`EngineFailure`)."""
    from maas_iac.drift.services import unreachable

    if not errors:
        try:
            names = {s.name for s in stack.workspace.list_stacks()}
        except Exception:  # noqa: BLE001 - the backend itself failing is reported below
            names = None
        if names is not None and stack.name not in names:
            backend = os.environ.get("PULUMI_BACKEND_URL") or f"file://{stack.workspace.work_dir}/.pulumi-state"
            return MaasError(f"stack {stack.name!r} does not exist on {backend}; deploy it first: "
                             f"pulumi up --stack {stack.name} --cwd {stack.workspace.work_dir}")
    down = unreachable(config, services)
    if down:
        return InfrastructureError("; ".join(down) + " (scripts/services status)")
    if errors:
        return EngineFailure("the preview failed:\n" + "\n".join(f"  {line}" for e in errors for line in e.splitlines()))
    text = [line for line in str(exc).splitlines() if line.strip()]
    return InfrastructureError(f"the Pulumi engine failed: {text[-1] if text else type(exc).__name__}")
