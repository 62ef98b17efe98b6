"""A tf.Example classifier with TF Serving's classify and regress signatures.

A TF2 module over serialized ``tf.Example`` s (float feature ``x``, one value, 0 when
absent), saved with ``tf.saved_model.save`` into a version directory:

* ``classify`` (also ``serving_default``): input ``inputs`` (string ``[None]``), outputs
  ``classes`` ``["neg", "pos"]`` and ``scores`` ``[1 - s, s]`` with ``s = sigmoid(x)``;
* ``regress``: input ``inputs``, output ``outputs`` ``= 0.5 x + 2``.

Their method names are TF Serving's (``tensorflow/serving/classify`` and ``.../regress``),
so the model answers ``Classify`` and ``Regress`` over gRPC and ``:classify`` and ``:regress``
over REST.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CLASSES", "FEATURE", "features", "example", "save"]

CLASSES = (b"neg", b"pos")
FEATURE = "x"


def features(tf, serialized):
    """The float feature ``x`` of serialized Examples, ``[batch, 1]``, 0 where absent."""
    spec = {FEATURE: tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
    return tf.io.parse_example(serialized, spec)[FEATURE]


def example(x: float) -> bytes:
    """A serialized tf.Example with the float feature ``x``."""
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example()
    ex.features.feature[FEATURE].float_list.value.append(x)
    return ex.SerializeToString()


def save(version_dir: str | Path) -> Path:
    """Write the model to ``version_dir`` (a SavedModel directory); returns it."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            s = tf.sigmoid(features(tf, inputs))
            classes = tf.tile(tf.constant([list(CLASSES)]), [tf.shape(inputs)[0], 1])
            return {"classes": classes, "scores": tf.concat([1.0 - s, s], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": self.a * features(tf, inputs) + self.b}

    m = Classifier()
    classify = m.classify.get_concrete_function()
    regress = m.regress.get_concrete_function()
    tf.saved_model.save(m, str(version_dir), signatures={"serving_default": classify,
                                                         "classify": classify, "regress": regress})
    # tf.saved_model.save records every signature as predict; give them TF Serving's methods
    # as TF Serving's own test exports do (method names live in the SignatureDef).
    pb = Path(version_dir) / "saved_model.pb"
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(pb.read_bytes())
    for key, method in (("serving_default", "classify"), ("classify", "classify"), ("regress", "regress")):
        sm.meta_graphs[0].signature_def[key].method_name = f"tensorflow/serving/{method}"
    pb.write_bytes(sm.SerializeToString())
    return Path(version_dir)
