"""The classic TensorFlow Serving "half plus two" model, trained rather than hand-written.

A one-unit Keras ``Dense`` layer is fitted in a second or two to generated points of
``y = slope * x + intercept`` (0.5 and 2.0 by default) and exported as a SavedModel version
directory ``<base_dir>/<version>/`` with one signature, ``serving_default``: input ``x``
(float32, shape ``[None, 1]``), output ``y`` (same shape).

    python -m maas_iac.examples.half_plus_two /tmp/models/half_plus_two --version 1

The other keyword arguments exist so tests can tell two versions apart (e.g. a "half plus
three" version 2); the model's shape and signature never change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["SIGNATURE", "INPUT", "OUTPUT", "export", "main"]

SIGNATURE = "serving_default"
INPUT = "x"
OUTPUT = "y"


def _train(slope: float, intercept: float, seed: int):
    import numpy as np
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-10.0, 10.0, size=(512, 1)).astype("float32")
    y = (slope * x + intercept).astype("float32")
    inputs = keras.Input(shape=(1,), dtype="float32", name=INPUT)
    outputs = keras.layers.Dense(1, name="half_plus_two")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.2), loss="mse")
    model.fit(x, y, batch_size=512, epochs=60, verbose=0)
    # Full-batch Adam ends within ~1e-3 of the exact line; finish with a least-squares
    # polish of the same two weights so the served values are exact to float precision.
    a = np.hstack([x, np.ones_like(x)]).astype("float64")
    (w, b), *_ = np.linalg.lstsq(a, y.astype("float64"), rcond=None)
    model.get_layer("half_plus_two").set_weights(
        [np.array([[w[0]]], dtype="float32"), np.array([b[0]], dtype="float32")]
    )
    return model


def export(
    base_dir: str | os.PathLike[str],
    version: int,
    *,
    slope: float = 0.5,
    intercept: float = 2.0,
    seed: int = 0,
) -> Path:
    """Train the model and write it to ``<base_dir>/<version>/``; returns that path.

    The directory appears atomically (written beside it, then renamed), so a model server
    polling ``base_dir`` never sees a half-written version.
    """
    import tensorflow as tf

    if int(version) < 0:
        raise ValueError(f"version must be a non-negative integer, got {version!r}")
    model = _train(slope, intercept, seed)

    class _Servable(tf.Module):
        def __init__(self, keras_model):
            super().__init__()
            self.model = keras_model

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name=INPUT)])
        def serve(self, x):
            return {OUTPUT: self.model(x, training=False)}

    servable = _Servable(model)
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    target = base / str(int(version))
    staging = Path(tempfile.mkdtemp(prefix=f".{int(version)}.", dir=base))
    try:
        out = staging / "model"
        tf.saved_model.save(servable, str(out), signatures={SIGNATURE: servable.serve})
        if target.exists():
            shutil.rmtree(target)
        os.rename(out, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maas_iac.examples.half_plus_two",
        description="Train and export the half-plus-two example as a SavedModel version dir.",
    )
    parser.add_argument("base_dir", help="model base path; the version dir is created inside")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--slope", type=float, default=0.5)
    parser.add_argument("--intercept", type=float, default=2.0)
    args = parser.parse_args(argv)
    path = export(args.base_dir, args.version, slope=args.slope, intercept=args.intercept)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
