"""Promotion's copy between two real registries: the local one (plain HTTP) into the TLS one
with its login (`scripts/services start --prodlike`), by digest, bit for bit."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import manifest_digest
from maas_iac.clients.registry_copy import copy_image
from maas_iac.errors import RegistryError

pytestmark = [pytest.mark.integration, pytest.mark.prodlike]

CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
LOCAL = RegistryEndpoint(address=os.environ.get("MAAS_REGISTRY", "127.0.0.1:5000"))
SOURCE = ("maas/debian", "bookworm")  # pushed by make setup (scripts/build_base_images.sh)


def _tls(password: str | None = None) -> RegistryEndpoint:
    if password is None:
        path = CACHE / "prodlike" / "registry.password"
        if not path.is_file():
            pytest.fail(f"{path} missing: run scripts/services start --prodlike", pytrace=False)
        password = path.read_text().strip()
    return RegistryEndpoint(address="127.0.0.1:5443", username="maas", password=password,
                            ca_file=str(CACHE / "pki" / "ca.crt"))


def test_an_image_is_copied_by_digest_and_a_second_copy_moves_nothing() -> None:
    digest = manifest_digest(LOCAL, *SOURCE)
    assert digest, "make setup pushes maas/debian:bookworm to the local registry"
    tag = f"copy-{uuid.uuid4().hex[:8]}"
    # the repository has the same name in both registries, as promotion copies it
    first = copy_image(LOCAL, _tls(), SOURCE[0], digest, tag)
    assert first.digest == digest and manifest_digest(_tls(), SOURCE[0], tag) == digest
    assert first.blobs_copied + first.blobs_present >= 2  # the config and at least one layer
    again = copy_image(LOCAL, _tls(), SOURCE[0], digest, tag)
    assert (again.blobs_copied, again.bytes_copied) == (0, 0)
    assert manifest_digest(_tls(), SOURCE[0], tag) == digest


def test_a_refused_login_on_the_target_names_the_registry() -> None:
    digest = manifest_digest(LOCAL, *SOURCE)
    with pytest.raises(RegistryError, match="registry 127.0.0.1:5443 refused the login of user 'maas'"):
        copy_image(LOCAL, _tls("wrong-password"), SOURCE[0], digest, "refused")
