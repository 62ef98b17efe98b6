"""Pure units: flags, batching parameters, the batcher, JSON tensors, version policy."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from polling import wait_until
from tensorflow.core.framework import types_pb2

from maas_dataplane.model_server.batching import Batcher, BatchingParameters, parse_batching_parameters
from maas_dataplane.model_server.config import VersionPolicy, models_from_proto, parse_config_text
from maas_dataplane.model_server.errors import ServingError
from maas_dataplane.model_server.options import parse_args
from maas_dataplane.model_server.tensors import _format_decimal, json_to_tensor, predictions_json


def test_flags_take_tf_serving_syntax():
    opts, ignored = parse_args(["--port=9000", "--rest_api_port=9001", "--model_name=m",
                                "--model_base_path=/m", "--enable_batching", "--rest_api_timeout_in_ms=5"])
    assert (opts.port, opts.rest_api_port, opts.model_name, opts.enable_batching) == (9000, 9001, "m", True)
    assert ignored == ["rest_api_timeout_in_ms"]
    assert parse_args(["--enable_batching=false"])[0].enable_batching is False
    defaults = parse_args([])[0]
    assert (defaults.port, defaults.rest_api_port, defaults.file_system_poll_wait_seconds, defaults.drain_seconds) == (8500, 0, 1, 5.0)
    with pytest.raises(SystemExit):
        parse_args(["--no_such_flag=1"])


def test_batching_parameters_text_proto():
    p = parse_batching_parameters(
        "# comment\nmax_batch_size { value: 32 }\nbatch_timeout_micros { value: 1000 }\n"
        "max_enqueued_batches { value: 4 }\nnum_batch_threads { value: 2 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 32\npad_variable_length_inputs: true\n"
    )
    assert p == BatchingParameters(32, 1000, 4, 2, allowed_batch_sizes=(8, 32), pad_variable_length_inputs=True)
    with pytest.raises(ValueError, match="no field named"):
        parse_batching_parameters("max_batch { value: 3 }")


def test_models_config_with_policies_and_labels():
    cfg = parse_config_text(
        'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" '
        "model_version_policy { specific { versions: 1 versions: 3 } } "
        'version_labels { key: "stable" value: 1 } } '
        'config { name: "b" base_path: "/b" model_version_policy { latest { num_versions: 2 } } } '
        'config { name: "c" base_path: "/c" model_version_policy { all {} } } }'
    )
    a, b, c = models_from_proto(cfg)
    assert a.policy == VersionPolicy("specific", versions=(1, 3)) and a.label_map == {"stable": 1}
    assert a.policy.select([1, 2, 3, 4]) == [3, 1]
    assert b.policy.select([1, 2, 3, 4]) == [4, 3]
    assert c.policy.select([1, 2]) == [2, 1]
    with pytest.raises(ServingError):
        parse_config_text("model_config_list { nonsense: 1 }")


def test_batcher_merges_concurrent_tasks_up_to_max_batch_size():
    seen = []

    def run(inputs):
        seen.append(len(inputs["x"]))
        time.sleep(0.01)
        return {"y": inputs["x"] * 2}

    b = Batcher(run, BatchingParameters(max_batch_size=4, batch_timeout_micros=50_000, num_batch_threads=1))
    out = {}

    def call(i):
        out[i] = b.submit({"x": np.array([[i]], dtype=np.float32)})["y"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out[i].tolist() == [[2 * i]] for i in range(8))
    assert max(seen) == 4 and sum(seen) == 8 and len(seen) <= 4
    with pytest.raises(ServingError, match="larger than maximum input batch size"):
        b.submit({"x": np.zeros((5, 1), np.float32)})
    b.close()
    assert b.submit({"x": np.ones((1, 1), np.float32)})["y"].tolist() == [[2.0]]  # closed: runs inline


def test_batcher_refuses_when_queue_is_full():
    gate, running = threading.Event(), threading.Event()

    def run(inputs):
        running.set()
        gate.wait(5)
        return {"y": inputs["x"]}

    b = Batcher(run, BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1))
    first = threading.Thread(target=b.submit, args=({"x": np.ones((1, 1))},))
    first.start()
    assert running.wait(5), "the first batch never ran"  # it runs; the queue has room for one more
    second = threading.Thread(target=b.submit, args=({"x": np.ones((1, 1))},))
    second.start()
    wait_until(lambda: len(b._queue) == 1, 5, "the second task to be queued behind the running batch")
    with pytest.raises(ServingError) as info:
        b.submit({"x": np.ones((1, 1))})
    assert info.value.code == "UNAVAILABLE"
    gate.set()
    first.join()
    second.join()
    b.close()


def test_floats_are_written_as_tf_serving_writes_them():
    f = types_pb2.DT_FLOAT
    assert _format_decimal(float(np.float32(0.3)), f) == "0.3"
    assert _format_decimal(3.0, f) == "3.0"
    assert _format_decimal(9000000.0, f) == "9e+06"
    assert _format_decimal(1234567.0, f) == "1234567.0"
    assert _format_decimal(float("nan"), f) == "NaN"
    assert _format_decimal(float("-inf"), f) == "-Infinity"
    out = predictions_json({"y": (np.array([[2.5], [3.0]], np.float32), f)})
    assert out.replace(" ", "").replace("\n", "") == '{"predictions":[[2.5],[3.0]]}'


def test_json_values_checked_against_dtype():
    assert json_to_tensor([[1, 2.5]], types_pb2.DT_FLOAT, has_bool_tokens=False).dtype == np.float32
    with pytest.raises(ServingError, match="without loss of precision"):
        json_to_tensor([16777217], types_pb2.DT_FLOAT, has_bool_tokens=False)
    with pytest.raises(ServingError, match="is not of expected type: int32"):
        json_to_tensor([1.5], types_pb2.DT_INT32, has_bool_tokens=False)
    with pytest.raises(ServingError, match="Type: True is not of expected type: float"):
        json_to_tensor([True], types_pb2.DT_FLOAT)
    assert json_to_tensor([{"b64": "aGk="}], types_pb2.DT_STRING).tolist() == [b"hi"]
