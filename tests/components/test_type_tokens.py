"""The type tokens that previews and drift checks look for are the ones the resources get."""

from __future__ import annotations

import pytest

from maas_iac import type_tokens
from maas_iac.events import ModelVersionEvent
from maas_iac.providers import Container, ContainerSweeper, Network, RegistryImage


@pytest.mark.parametrize("cls, token", [
    (Network, type_tokens.NETWORK),
    (Container, type_tokens.CONTAINER),
    (RegistryImage, type_tokens.REGISTRY_IMAGE),
    (ContainerSweeper, type_tokens.CONTAINER_SWEEPER),
    (ModelVersionEvent, type_tokens.MODEL_VERSION_EVENT),
])
def test_dynamic_resources_register_under_the_named_token(cls, token):
    # The SDK registers a dynamic resource as "pulumi-python:" + its class's type name.
    assert f"pulumi-python:{cls._resource_type_name}" == token
