"""Version lifecycle, config reload and graceful shutdown, against real server processes."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import grpc
from google.protobuf import text_format
from polling import wait_until
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

from .conftest import copy_version, http

MODEL = "hpt"


class RequestLoop:
    """Predicts continuously from a thread; records every failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.results: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code, doc, raw = http("POST", self.url, {"instances": [[1.0]]}, timeout=10)
                if code == 200:
                    self.ok += 1
                    self.results.append(doc["predictions"][0][0])
                else:
                    self.failures.append(f"{code} {raw[:200]!r}")
            except OSError as err:
                self.failures.append(repr(err))
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=15)


def statuses(server) -> dict[str, dict]:
    code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}")
    assert code == 200, doc
    return {s["version"]: s for s in doc["model_version_status"]}


def wait_for(predicate, timeout: float, what: str, server) -> None:
    wait_until(predicate, timeout, what, interval=0.2, details=server.log)


def wait_for_poll(server, base, marker: str) -> None:
    """Returns once the server has run one whole file-system poll that started after now: a
    half-written version directory ``marker`` (never a candidate) is made, and the poll that
    sees it logs that it ignores it."""
    half = base / marker
    (half / "variables").mkdir(parents=True)
    wait_for(lambda: f"Ignoring {half} of model {MODEL} for now" in server.log(), 10,
             f"a poll that sees {half}", server)


def test_new_version_replaces_old_without_a_failed_request_and_a_bad_one_never_serves(
    exported, tmp_path, start_server
):
    base = tmp_path / MODEL
    copy_version(exported[1], base, 1)
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1")
    server.wait_available(MODEL, 1)

    with RequestLoop(f"{server.rest}/v1/models/{MODEL}:predict") as loop:
        # A half-written version 2 (no saved_model.pb yet) is left alone.
        half = base / "2"
        wait_for_poll(server, base, "2")  # a poll has seen it and left it alone
        wait_for_poll(server, base, "99")  # and so has the next one
        shutil.rmtree(base / "99")
        assert set(statuses(server)) == {"1"}
        shutil.rmtree(half)
        copy_version(exported[2], base, 2)
        wait_for(lambda: statuses(server).get("1", {}).get("state") == "END", 30, "version 1 to unload", server)
        st = statuses(server)
        assert st["2"]["state"] == "AVAILABLE" and st["1"]["status"]["error_code"] == "OK"

        # A corrupt version 3 fails to load; version 2 keeps serving.
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "saved_model.pb").write_bytes(b"this is not a SavedModel")
        (bad / "variables").mkdir()
        os.rename(bad, base / "3")
        wait_for(lambda: statuses(server).get("3", {}).get("state") == "END", 30, "version 3 to fail", server)
        for marker in ("97", "98"):  # two more whole polls: nothing may change
            wait_for_poll(server, base, marker)
        st = statuses(server)
        assert st["2"]["state"] == "AVAILABLE"
        assert st["3"]["status"]["error_code"] != "OK" and st["3"]["status"]["error_message"]
        code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", {"instances": [[1.0]]})
        assert (code, doc) == (200, {"predictions": [[3.5]]})

    assert loop.failures == [], loop.failures[:5]
    assert loop.ok > 50 and 2.5 in loop.results and 3.5 in loop.results
    log = server.log()
    assert "Successfully loaded servable version {name: hpt version: 2}" in log
    assert "Done unloading servable version {name: hpt version: 1}" in log
    assert "Loading servable: {name: hpt version: 3} failed:" in log


def test_sigterm_fails_status_first_keeps_serving_then_exits_zero(exported, tmp_path, start_server):
    base = tmp_path / MODEL
    copy_version(exported[1], base, 1)
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={base}", "--drain_seconds=3")
    server.wait_available(MODEL, 1)
    predict = f"{server.rest}/v1/models/{MODEL}:predict"
    with RequestLoop(predict) as loop:
        wait_for(lambda: loop.ok >= 3, 10, "the first predictions of the request loop", server)
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: http("GET", f"{server.rest}/v1/models/{MODEL}")[0] == 503, 2, "status to fail", server)
        failed_after = time.monotonic() - sent
        ok_before = loop.ok
        code, doc, _ = http("GET", f"{server.rest}/v1/models/{MODEL}")
        assert code == 503 and "error" in doc
        # still answering predictions while draining
        wait_for(lambda: loop.ok >= ok_before + 10, 2, "ten more predictions after the status failed", server)
        assert server.proc.poll() is None
        assert http("POST", predict, {"instances": [[1.0]]})[0] == 200
        assert loop.ok > ok_before
        assert server.proc.wait(timeout=20) == 0
    assert failed_after < 1.5
    assert time.monotonic() - sent >= 3
    assert "Received shutdown signal" in server.log()


def test_reload_config_replaces_the_served_models(exported, tmp_path, start_server):
    a, b = tmp_path / "a", tmp_path / "b"
    copy_version(exported[1], a, 1)
    copy_version(exported[2], b, 2)
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "a" base_path: "{a}" model_platform: "tensorflow" }} }}')
    server = start_server(f"--model_config_file={config}")
    server.wait_available("a", 1)

    new = text_format.Parse(
        f'model_config_list {{ config {{ name: "b" base_path: "{b}" model_platform: "tensorflow" '
        f'version_labels {{ key: "stable" value: 2 }} }} }}',
        model_management_pb2.ReloadConfigRequest().config,
    )
    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(new)
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=60)
    assert response.status.error_code == 0, response
    code, doc, _ = http("POST", f"{server.rest}/v1/models/b/labels/stable:predict", {"instances": [[1.0]]})
    assert (code, doc) == (200, {"predictions": [[3.5]]})
    code, doc, _ = http("POST", f"{server.rest}/v1/models/a:predict", {"instances": [[1.0]]})
    assert (code, doc) == (404, {"error": "Servable not found for request: Latest(a)"})
    assert "Done unloading servable version {name: a version: 1}" in server.log()


def test_batching_server_answers_concurrent_requests(exported, tmp_path, start_server):
    base = tmp_path / MODEL
    copy_version(exported[1], base, 1)
    params = tmp_path / "batching.config"
    params.write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 2000 }\n"
        "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n"
    )
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={base}", "--enable_batching",
                          f"--batching_parameters_file={params}")
    server.wait_available(MODEL, 1)
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", {"instances": [[float(i)], [1.0]]})[1]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == {"predictions": [[0.5 * i + 2], [2.5]]} for i in range(24)), results
    code, doc, _ = http("POST", f"{server.rest}/v1/models/{MODEL}:predict", {"instances": [[1.0]] * 9})
    assert code == 400 and doc["error"] == "Task size 9 is larger than maximum input batch size 8"


def test_a_server_that_lost_its_model_directory_exits_non_zero(exported, tmp_path, start_server):
    base = tmp_path / MODEL
    copy_version(exported[1], base, 1)
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={base}",
                          "--file_system_poll_wait_seconds=1", "--exit_without_models_seconds=2")
    server.wait_available(MODEL, 1)
    shutil.rmtree(base)
    start = time.monotonic()
    assert server.proc.wait(timeout=30) == 1
    assert time.monotonic() - start >= 2
    log = server.log()
    assert "Done unloading servable version {name: hpt version: 1}" in log
    assert "No model has had an available version for 2s" in log


def test_a_reload_that_removes_every_model_makes_the_server_exit_non_zero(exported, tmp_path, start_server):
    base = tmp_path / MODEL
    copy_version(exported[1], base, 1)
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={base}", "--exit_without_models_seconds=1")
    server.wait_available(MODEL, 1)
    request = model_management_pb2.ReloadConfigRequest()
    request.config.model_config_list.SetInParent()
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=60)
    assert response.status.error_code == 0, response
    assert server.proc.wait(timeout=30) == 1


def test_a_server_still_waiting_for_its_first_model_does_not_exit(tmp_path, start_server):
    server = start_server(f"--model_name={MODEL}", f"--model_base_path={tmp_path / 'absent'}",
                          "--exit_without_models_seconds=1")
    time.sleep(4)
    assert server.proc.poll() is None, server.log()
