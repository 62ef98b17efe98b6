"""One prediction through a model's router, over REST and over gRPC.

    python -m maas_iac.examples.predict --rest http://127.0.0.1:8501/v1/models/half-plus-two \\
        --grpc 127.0.0.1:8500 --model half-plus-two 1 2 5

Sends the numbers as a batch of one-feature rows (the half-plus-two signature: input ``x``,
shape ``[None, 1]``) and prints one line per protocol, e.g.
``REST  http://…:predict  [1.0, 2.0, 5.0] -> [2.5, 3.0, 4.5]``. The exit status is 1 when a
call fails, with one line saying which and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Sequence

__all__ = ["predict_grpc", "predict_rest"]

INPUT = "x"
OUTPUT = "y"


def predict_rest(endpoint: str, xs: Sequence[float], timeout_s: float = 10) -> list[float]:
    """POST ``{"instances": [[x], …]}`` to ``<endpoint>:predict``; returns the first output column."""
    body = json.dumps({"instances": [[float(x)] for x in xs]}).encode()
    request = urllib.request.Request(f"{endpoint}:predict", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"REST predict at {endpoint} answered {err.code}: "
                           f"{err.read().decode(errors='replace').strip()}") from None
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeError(f"REST predict at {endpoint} failed: {getattr(err, 'reason', err)}") from None
    return [float(row[0]) if isinstance(row, list) else float(row) for row in payload["predictions"]]


def predict_grpc(target: str, model: str, xs: Sequence[float], timeout_s: float = 10) -> list[float]:
    """PredictionService/Predict at ``target`` (``host:port``, plaintext h2c)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the protos import TensorFlow, which logs
    import grpc
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs[INPUT].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(xs)), tensor_shape_pb2.TensorShapeProto.Dim(size=1)]),
        float_val=[float(x) for x in xs],
    ))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout_s)
        except grpc.RpcError as err:
            raise RuntimeError(f"gRPC predict at {target} failed: {err.code().name}: {err.details()}") from None
    return [float(v) for v in response.outputs[OUTPUT].float_val]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maas_iac.examples.predict",
                                     description="One prediction over REST and gRPC through a model's router.")
    parser.add_argument("--rest", help="the model's REST endpoint, http://host:port/v1/models/<name>")
    parser.add_argument("--grpc", help="the router's gRPC address, host:port")
    parser.add_argument("--model", help="model name (for gRPC; default: the last part of --rest)")
    parser.add_argument("xs", nargs="*", type=float, default=[1.0, 2.0, 5.0])
    args = parser.parse_args(argv)
    if not args.rest and not args.grpc:
        parser.error("give --rest, --grpc or both")
    model = args.model or (args.rest.rstrip("/").rsplit("/", 1)[-1] if args.rest else None)
    if args.grpc and not model:
        parser.error("--grpc needs --model")
    try:
        if args.rest:
            print(f"REST  {args.rest}:predict  {args.xs} -> {predict_rest(args.rest, args.xs)}", flush=True)
        if args.grpc:
            print(f"gRPC  {args.grpc} {model}  {args.xs} -> {predict_grpc(args.grpc, model, args.xs)}", flush=True)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
