"""The model server's collector settings: frozen after a load, cycles of an unloaded version freed."""

from __future__ import annotations

import gc
import weakref

import pytest

from maas_dataplane.model_server import gc_pauses


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _unfrozen():
    yield
    gc.unfreeze()


def test_a_load_freezes_what_is_alive_so_collections_skip_it() -> None:
    gc.unfreeze()
    gc_pauses.after_load()
    assert gc.get_freeze_count() > 1000


def test_an_unload_frees_the_cycles_a_frozen_version_left() -> None:
    gc.unfreeze()
    node = _Node()
    alive = weakref.ref(node)
    gc_pauses.after_load()  # the version's objects are frozen with it
    del node
    gc.collect()
    assert alive() is not None, "frozen: the collector no longer looks at it"
    gc_pauses.after_unload()
    assert alive() is None, "the unload's collection frees it"
    assert gc.get_freeze_count() > 0, "and what is left is frozen again"
