"""Test models, generated with TensorFlow itself into a version directory.

* :func:`tf1_estimator`: an Estimator-style graph-mode export (``SavedModelBuilder``): a
  serialized ``tf.Example`` placeholder parsed with ``tf.io.parse_example`` (feature ``x``,
  one float), ``y = 0.5 x + 2``; signatures ``serving_default`` and ``classification``
  (classify: classes ``["neg", "pos"]``, scores ``[1 - s, s]`` with ``s = sigmoid(x)``),
  ``regression`` (regress: ``y``) and ``predict`` (predict: ``y`` and ``scores``).
* :func:`tf1_ref_variables`: graph-mode reference variables (``use_resource=False``), input
  ``x`` float ``[-1, 1]``, ``y = 3 x + 1``.
* :func:`tf2_elementwise`: ``tf.saved_model.save`` of ``y = 0.5 x + 2`` element-wise, input
  declared ``[-1, 1]``: any shape computes.
* :func:`tf2_classifier`: a TF2 module with classify/regress signatures over serialized
  Examples, as ``tf1_estimator`` but saved with ``tf.saved_model.save``
  (:func:`maas_iac.examples.classifier.save`, which the benchmarks use too).
* :func:`tflite_model`: ``y = 0.5 x + 2`` converted with ``tf.lite.TFLiteConverter`` and
  written as ``model.tflite`` next to its SavedModel.
"""

from __future__ import annotations

from pathlib import Path

from maas_iac.examples.classifier import CLASSES, example
from maas_iac.examples.classifier import features as _features
from maas_iac.examples.classifier import save as tf2_classifier

__all__ = ["CLASSES", "example", "tf1_estimator", "tf1_ref_variables", "tf2_elementwise",
           "tf2_classifier", "tflite_model"]


def tf1_estimator(version_dir: Path) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        x = _features(tf, serialized)
        a = v1.get_variable("a", initializer=0.5, use_resource=False)
        b = v1.get_variable("b", initializer=2.0, use_resource=False)
        y = tf.add(a * x, b, name="y")
        s = tf.sigmoid(x)
        scores = tf.concat([1.0 - s, s], axis=1, name="scores")
        classes = tf.tile(tf.constant([list(CLASSES)]), [tf.shape(serialized)[0], 1], name="classes")
        info = v1.saved_model.utils.build_tensor_info
        sig = v1.saved_model.signature_def_utils.build_signature_def
        classify = sig({"inputs": info(serialized)}, {"classes": info(classes), "scores": info(scores)},
                       "tensorflow/serving/classify")
        regress = sig({"inputs": info(serialized)}, {"outputs": info(y)}, "tensorflow/serving/regress")
        predict = sig({"examples": info(serialized)}, {"y": info(y), "scores": info(scores)},
                      "tensorflow/serving/predict")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(version_dir))
            builder.add_meta_graph_and_variables(
                sess, ["serve"],
                signature_def_map={"serving_default": classify, "classification": classify,
                                   "regression": regress, "predict": predict},
                main_op=v1.tables_initializer(),
            )
            builder.save()
    return version_dir


def tf1_ref_variables(version_dir: Path) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        w = v1.get_variable("w", initializer=3.0, use_resource=False)
        b = v1.get_variable("b", initializer=1.0, use_resource=False)
        assert not hasattr(w, "handle") or "Ref" in str(w.dtype) or w.op.type == "VariableV2"
        y = tf.add(w * x, b, name="y")
        info = v1.saved_model.utils.build_tensor_info
        predict = v1.saved_model.signature_def_utils.build_signature_def(
            {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(version_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": predict})
            builder.save()
    return version_dir


def tf2_elementwise(version_dir: Path) -> Path:
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def matmul(self, x):
            return {"y": tf.matmul(x, tf.ones([1, 1]))}

    m = HalfPlusTwo()
    tf.saved_model.save(m, str(version_dir), signatures={"serving_default": m.predict, "matmul": m.matmul})
    return version_dir


def tflite_model(version_dir: Path) -> Path:
    import tensorflow as tf

    tf2_elementwise(version_dir)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(version_dir), signature_keys=["serving_default"])
    (Path(version_dir) / "model.tflite").write_bytes(converter.convert())
    return version_dir
