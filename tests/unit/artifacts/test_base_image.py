"""Base images are pinned by digest when their registry answers, so a new base means a new model tag."""

from __future__ import annotations

import pytest

from maas_iac.artifacts.base_image import pin_base_image, split_reference

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize("ref,parts", [
    ("127.0.0.1:5000/maas/serving:2.21.0", ("127.0.0.1:5000", "maas/serving", "2.21.0")),
    ("registry.example.com/ml/serving", ("registry.example.com", "ml/serving", "latest")),
    ("localhost/serving:1", ("localhost", "serving", "1")),
    ("tensorflow/serving:2.19.0", None),
    ("serving", None),
    ("127.0.0.1:5000/maas/serving@" + DIGEST, None),
])
def test_split_reference(ref, parts) -> None:
    assert split_reference(ref) == parts


def test_a_registry_base_is_pinned_to_its_digest() -> None:
    asked = []
    pinned = pin_base_image("127.0.0.1:5000/maas/serving:2.21.0", lambda *a: asked.append(a) or DIGEST)
    assert pinned == f"127.0.0.1:5000/maas/serving@{DIGEST}"
    assert asked == [("127.0.0.1:5000", "maas/serving", "2.21.0")]


def test_an_unknown_tag_or_a_hub_image_stays_as_written() -> None:
    assert pin_base_image("127.0.0.1:5000/maas/serving:9", lambda *a: None) == "127.0.0.1:5000/maas/serving:9"
    assert pin_base_image("tensorflow/serving:2.19.0", lambda *a: DIGEST) == "tensorflow/serving:2.19.0"
