"""Which secrets passphrase a stack may use.

The throwaway ``local`` stack's secrets are encrypted with a well-known passphrase
(:data:`LOCAL_PASSPHRASE`), so that ``make demo`` works on a fresh machine. Every other stack
brings its own: ``PULUMI_CONFIG_PASSPHRASE``, ``PULUMI_CONFIG_PASSPHRASE_FILE`` or another
secrets provider named by ``secretsprovider:`` in its stack file. There is never a default, and
the local passphrase is refused for any other stack (it would encrypt that stack's registry and
Kafka passwords with a value everyone knows).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from maas_iac.errors import MaasError

__all__ = ["LOCAL_PASSPHRASE", "LOCAL_STACK", "SecretsProviderError", "check_secrets_provider", "passphrase_in_effect"]

LOCAL_STACK = "local"
LOCAL_PASSPHRASE = "maas-local"
"""Passphrase of the ``local`` stack's secrets (its stack file's ``encryptionsalt`` was made with it)."""


class SecretsProviderError(MaasError):
    """A stack would be encrypted with no passphrase of its own."""


def passphrase_in_effect(environ: Mapping[str, str]) -> Optional[str]:
    """The passphrase the Pulumi engine would use with ``environ``, or None when none is set.

    ``PULUMI_CONFIG_PASSPHRASE`` wins over ``PULUMI_CONFIG_PASSPHRASE_FILE``, as in the engine.
    An unreadable file counts as set (the engine reports it); its text is then unknown, ``""``.
    """
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return environ["PULUMI_CONFIG_PASSPHRASE"]
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not path:
        return None
    try:
        return Path(os.path.expanduser(path)).read_text().rstrip("\r\n")
    except OSError:
        return ""


def _named_provider(stack_file: Optional[Path]) -> Optional[str]:
    """The ``secretsprovider:`` of a stack file (``passphrase`` or a KMS URL), if it names one."""
    if stack_file is None or not stack_file.is_file():
        return None
    for line in stack_file.read_text(errors="replace").splitlines():
        if line.startswith("secretsprovider:"):
            return line.split(":", 1)[1].strip().strip("'\"") or None
    return None


def check_secrets_provider(stack: str, environ: Mapping[str, str], stack_file: Optional[Path] = None) -> None:
    """Raises :class:`SecretsProviderError` unless ``stack`` has secrets of its own.

    ``local`` may use anything. Another stack needs a cloud secrets provider in its stack file,
    or a passphrase in ``environ`` that is not :data:`LOCAL_PASSPHRASE`.
    """
    if stack == LOCAL_STACK:
        return
    provider = _named_provider(stack_file)
    if provider and provider != "passphrase":
        return
    phrase = passphrase_in_effect(environ)
    where = f" ({stack_file})" if stack_file is not None else ""
    fix = (f"set PULUMI_CONFIG_PASSPHRASE_FILE (or PULUMI_CONFIG_PASSPHRASE) to this stack's own passphrase, "
           f"or give it a secrets provider: pulumi stack change-secrets-provider --stack {stack} <awskms://…|gcpkms://…|azurekeyvault://…|hashivault://…>")
    if phrase is None:
        raise SecretsProviderError(
            f"stack {stack!r}{where} has no secrets passphrase, and only the local stack has a default; {fix}")
    if phrase == LOCAL_PASSPHRASE:
        raise SecretsProviderError(
            f"stack {stack!r}{where} would use the local stack's well-known passphrase, which protects nothing; "
            f"{fix}. (scripts/env sets that passphrase for STACK=local only.)")
