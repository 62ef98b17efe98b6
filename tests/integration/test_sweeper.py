"""ContainerSweeper.diff against the real Docker engine: with the same declared containers, a
change is exactly an orphan (a container labelled for the scope that ``keep`` does not name)."""

from __future__ import annotations

import uuid

import pytest

from maas_iac.clients.endpoints import LOCAL_DOCKER_HOST
from maas_iac.providers.docker_sweeper import _SweeperProvider

pytestmark = pytest.mark.integration

DEBIAN = "maas/debian:bookworm"


def test_a_labelled_container_outside_keep_is_a_change(docker_client) -> None:
    scope = {"maas.stack": f"sw{uuid.uuid4().hex[:10]}"}
    declared = docker_client.containers.create(DEBIAN, ["sleep", "infinity"], labels=scope)
    try:
        props = {"labels": scope, "keep": [declared.id], "docker": {"host": LOCAL_DOCKER_HOST}}
        olds = {**props, "removed": []}
        assert not _SweeperProvider().diff("s", olds, props).changes
        orphan = docker_client.containers.create(DEBIAN, ["sleep", "infinity"], labels=scope)
        try:
            result = _SweeperProvider().diff("s", olds, props)
            assert result.changes and result.replaces == []
            # A container of another scope is none of its business.
            other = {**props, "labels": {"maas.stack": scope["maas.stack"] + "x"}, "keep": []}
            assert not _SweeperProvider().diff("s", {**other, "removed": []}, other).changes
        finally:
            orphan.remove(force=True)
    finally:
        declared.remove(force=True)
