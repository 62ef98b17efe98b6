"""The TensorFlow protobuf modules without the TensorFlow runtime.

The bridge needs only generated protobuf modules: ``tensorflow.core.framework.*_pb2`` and
``tensorflow_serving.apis.*_pb2``. Importing them the ordinary way first runs
``tensorflow/__init__.py``, which loads the whole runtime: about 10 s and 500 MB per bridge
(measured: 9.8 s and 541 MB, against 0.6 s and 49 MB without it). :func:`protos_only` registers
the installed ``tensorflow`` package as a bare namespace whose submodules load from the same
directory, so the protobuf modules import alone. Nothing else may import ``tensorflow`` in the
process afterwards, so the bridge calls it first thing and only when TensorFlow is not loaded.
"""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["protos_only"]


def protos_only() -> bool:
    """Make ``tensorflow`` a bare package (protobuf modules only); ``False`` if TensorFlow is
    already imported or not installed (then nothing changes)."""
    if "tensorflow" in sys.modules:
        return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    package = types.ModuleType("tensorflow", "TensorFlow's protobuf modules only (maas_dataplane.bridge.protos)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules["tensorflow"] = package
    try:
        from tensorflow.core.framework import tensor_pb2  # noqa: F401
        from tensorflow_serving.apis import predict_pb2  # noqa: F401
    except ImportError:
        for name in [m for m in sys.modules if m == "tensorflow" or m.startswith(("tensorflow.", "tensorflow_serving"))]:
            del sys.modules[name]
        return False
    return True
