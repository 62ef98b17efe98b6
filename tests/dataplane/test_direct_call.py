"""The direct call path: taken only where it answers exactly as TensorFlow's public call."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from maas_dataplane.model_server import direct_call
from maas_dataplane.model_server.servable import LoadedVersion


def _export(path, fn, signature_name: str = "serving_default") -> str:
    module = tf.Module()
    module.fn = fn
    tf.saved_model.save(module, str(path), signatures={signature_name: fn})
    return str(path)


def _public(version: LoadedVersion, inputs: dict) -> dict:
    sig = version.signature("serving_default")
    return {k: v.numpy() for k, v in sig.function(**version._feeds(inputs)).items()}


def test_example_model_is_called_directly_and_answers_as_the_public_call(exported):
    version = LoadedVersion("hpt", 1, str(exported[1]))
    sig = version.signature("serving_default")
    assert sig.call_path == "direct call on the calling thread"
    rng = np.random.default_rng(7)
    for rows in (1, 3, 64):
        x = {"x": rng.normal(size=(rows, 1)).astype(np.float32)}
        got = version.run(sig, x)
        np.testing.assert_array_equal(got["y"], _public(version, x)["y"])
        np.testing.assert_allclose(got["y"], 0.5 * x["x"] + 2.0, rtol=1e-6)


def test_inputs_and_outputs_are_matched_by_name_not_declaration_order(tmp_path):
    # Declared zeta-before-alpha and zz-before-aa: a positional mix-up would swap them.
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="zeta"),
                                  tf.TensorSpec([None, 2], tf.float32, name="alpha")])
    def fn(zeta, alpha):
        return {"zz": zeta - alpha, "aa": zeta * 10.0 + alpha}

    version = LoadedVersion("m", 1, _export(tmp_path / "1", fn))
    sig = version.signature("serving_default")
    assert sig.call_path.startswith("direct")
    inputs = {"zeta": np.array([[5.0, 7.0]], np.float32), "alpha": np.array([[1.0, 2.0]], np.float32)}
    got = version.run(sig, inputs)
    np.testing.assert_array_equal(got["zz"], [[4.0, 5.0]])
    np.testing.assert_array_equal(got["aa"], [[51.0, 72.0]])


def test_string_inputs_take_the_direct_path_too(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def fn(text):
        return {"length": tf.strings.length(text)}

    version = LoadedVersion("m", 1, _export(tmp_path / "1", fn))
    sig = version.signature("serving_default")
    assert sig.call_path.startswith("direct")
    got = version.run(sig, {"text": np.array([b"abc", b""], dtype=object)})
    np.testing.assert_array_equal(got["length"], [3, 0])


@pytest.mark.parametrize("case, reason", [
    ("unknown_rank", "no sample input"),
    ("rejects_zeros", "rejects a synthetic input"),
    ("random", "does not return the same outputs"),
])
def test_unproven_models_keep_the_public_call(tmp_path, case, reason):
    if case == "unknown_rank":
        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def fn(x):
            return {"y": x + 1.0}
        x = np.ones((2, 2), np.float32)
    elif case == "rejects_zeros":
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def fn(x):
            with tf.control_dependencies([tf.debugging.assert_positive(x)]):
                return {"y": tf.math.log(x)}
        x = np.array([1.0, np.e], np.float32)
    else:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def fn(x):
            return {"y": x + tf.random.uniform(tf.shape(x))}
        x = np.zeros((3,), np.float32)

    version = LoadedVersion("m", 1, _export(tmp_path / "1", fn))
    sig = version.signature("serving_default")
    assert sig.call_path.startswith("public call") and reason in sig.call_path
    got = version.run(sig, {"x": x})["y"]
    assert got.shape == x.shape
    if case == "rejects_zeros":
        np.testing.assert_allclose(got, [0.0, 1.0], atol=1e-6)


def test_slow_models_keep_the_public_call(exported, monkeypatch):
    monkeypatch.setattr(direct_call, "DIRECT_MAX_SECONDS", 0.0)
    version = LoadedVersion("hpt", 1, str(exported[1]))
    sig = version.signature("serving_default")
    assert sig.call_path.startswith("public call") and "per call, above" in sig.call_path
    np.testing.assert_allclose(version.run(sig, {"x": np.array([[4.0]], np.float32)})["y"], [[4.0]])


def test_inputs_of_other_shapes_take_the_public_call(tmp_path, monkeypatch):
    # The direct call is proven on the signature's shapes only; [3] for a [-1, 1] signature
    # goes through the public call, which lets TensorFlow judge the shape (TF Serving's rule).
    from tests.dataplane.models import tf2_elementwise

    version = LoadedVersion("m", 1, str(tf2_elementwise(tmp_path / "1")))
    sig = version.signature("serving_default")
    calls = []
    direct = sig.call
    monkeypatch.setattr(sig, "call", lambda feeds: calls.append("direct") or direct(feeds))
    np.testing.assert_array_equal(version.run(sig, {"x": np.array([[1.0]], np.float32)})["y"], [[2.5]])
    got = version.run(sig, {"x": np.array([1.0, 2.0, 5.0], np.float32)})["y"]
    np.testing.assert_array_equal(got, [2.5, 3.0, 4.5])
    assert calls == ["direct"]
    np.testing.assert_array_equal(got, _public(version, {"x": np.array([1.0, 2.0, 5.0], np.float32)})["y"])
