"""Only the `local` stack has a default passphrase; every other stack brings its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas_iac.automation import engine_env
from maas_iac.stack_secrets import LOCAL_PASSPHRASE, SecretsProviderError, check_secrets_provider


def test_local_needs_nothing() -> None:
    check_secrets_provider("local", {})


@pytest.mark.parametrize("environ", [{}, {"PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE}])
def test_another_stack_without_its_own_passphrase_stops(environ: dict[str, str], tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.staging.yaml"
    stack_file.write_text("config:\n  maas:registry: r.example.com\n")
    with pytest.raises(SecretsProviderError) as err:
        check_secrets_provider("staging", environ, stack_file)
    message = str(err.value)
    assert "'staging'" in message and str(stack_file) in message
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" in message and "change-secrets-provider" in message


def test_the_local_passphrase_is_refused_from_a_file_too(tmp_path: Path) -> None:
    phrase = tmp_path / "passphrase"
    phrase.write_text(LOCAL_PASSPHRASE + "\n")
    with pytest.raises(SecretsProviderError, match="well-known passphrase"):
        check_secrets_provider("prod", {"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase)})


def test_an_own_passphrase_or_a_kms_provider_will_do(tmp_path: Path) -> None:
    phrase = tmp_path / "passphrase"
    phrase.write_text("correct horse battery staple\n")
    check_secrets_provider("prod", {"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase)})
    check_secrets_provider("prod", {"PULUMI_CONFIG_PASSPHRASE": "s3cret"})
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text("secretsprovider: awskms://alias/maas\nencryptedkey: abc\nconfig: {}\n")
    check_secrets_provider("prod", {}, stack_file)


def test_the_engine_gets_the_default_for_local_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    assert engine_env(tmp_path, stack="local")["PULUMI_CONFIG_PASSPHRASE"] == LOCAL_PASSPHRASE
    assert "PULUMI_CONFIG_PASSPHRASE" not in engine_env(tmp_path, stack="staging")
    assert "PULUMI_CONFIG_PASSPHRASE" not in engine_env(tmp_path)
