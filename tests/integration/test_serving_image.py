"""The serving image, used the way model images use it: FROM it, COPY a version dir, run.

Needs Docker and the base image ``maas/debian-python:bookworm``. The image under test is
``$MAAS_SERVING_IMAGE`` when set (e.g. ``maas/serving:2.21.0``); otherwise this checkout's
own, built once by ``scripts/build_serving_image.sh --no-push`` under a tag named after the
content of ``maas_dataplane/`` and ``images/serving/`` (a rebuild of unchanged content is a
no-op), so the test always checks the image this code builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from polling import wait_until

from maas_dataplane.probe import PROBE_SCRIPT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _content_tag() -> str:
    h = hashlib.sha256()
    for top in ("maas_dataplane", "images/serving", "scripts/build_serving_image.sh"):
        root = REPO / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for f in files:
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return f"maas-test/serving:{h.hexdigest()[:12]}"


SERVING_IMAGE = os.environ.get("MAAS_SERVING_IMAGE") or _content_tag()


def _docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def model_container(tmp_path_factory):
    if shutil.which("docker") is None or _docker("info", check=False, timeout=30).returncode != 0:
        pytest.fail("no Docker engine answers; run scripts/services start", pytrace=False)
    if _docker("image", "inspect", SERVING_IMAGE, check=False).returncode != 0:
        if os.environ.get("MAAS_SERVING_IMAGE"):
            pytest.fail(f"{SERVING_IMAGE} is not built; run scripts/build_serving_image.sh", pytrace=False)
        build = subprocess.run([str(REPO / "scripts/build_serving_image.sh"), "--no-push"], cwd=REPO,
                               env=dict(os.environ, SERVING_TAG=SERVING_IMAGE), capture_output=True, text=True,
                               timeout=3600)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    from maas_iac.examples.half_plus_two import export

    context = tmp_path_factory.mktemp("model-image")
    export(context / "half_plus_two", 1)
    (context / "Dockerfile").write_text(
        f"FROM {SERVING_IMAGE}\nCOPY half_plus_two/1 /models/half_plus_two/1\nENV MODEL_NAME=half_plus_two\n"
    )
    tag = f"maas-test/half-plus-two:{uuid.uuid4().hex[:8]}"
    _docker("build", "-q", "-t", tag, str(context))
    name = f"maas-test-serving-{uuid.uuid4().hex[:8]}"
    _docker("run", "-d", "--name", name, "-p", "127.0.0.1::8500", "-p", "127.0.0.1::8501", tag,
            "--file_system_poll_wait_seconds=2")
    try:
        ports = {}
        for inner in ("8500", "8501"):
            out = _docker("port", name, f"{inner}/tcp").stdout.strip().splitlines()[0]
            ports[inner] = int(out.rsplit(":", 1)[1])
        rest = f"http://127.0.0.1:{ports['8501']}"

        def available() -> bool:
            with urllib.request.urlopen(f"{rest}/v1/models/half_plus_two", timeout=2) as resp:
                return b"AVAILABLE" in resp.read()

        wait_until(available, 300, "the container to serve half_plus_two AVAILABLE", interval=0.5, ignore=(OSError,),
                   details=lambda: _docker("logs", name, check=False).stderr)
        yield name, rest, f"127.0.0.1:{ports['8500']}"
    finally:
        stop = _docker("stop", "-t", "30", name, check=False)
        state = _docker("inspect", "-f", "{{.State.ExitCode}}", name, check=False).stdout.strip()
        logs = _docker("logs", name, check=False)
        _docker("rm", "-f", name, check=False)
        _docker("rmi", tag, check=False)
        assert stop.returncode == 0 and state == "0", (state, logs.stdout, logs.stderr)


def test_rest_on_8501(model_container):
    _, rest, _ = model_container
    req = urllib.request.Request(
        f"{rest}/v1/models/half_plus_two:predict", data=json.dumps({"instances": [[1.0], [2.0], [5.0]]}).encode()
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read()) == {"predictions": [[2.5], [3.0], [4.5]]}


def test_grpc_on_8500(model_container):
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    _, _, target = model_container
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "half_plus_two"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0]], np.float32)))
    with grpc.insecure_channel(target) as channel:
        resp = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, timeout=30)
    assert list(resp.outputs["y"].float_val) == [2.5, 3.0]
    assert resp.model_spec.version.value == 1


def test_tini_is_pid_1_and_extra_args_reach_the_server(model_container):
    name, _, _ = model_container
    cmdline = _docker("exec", name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "tini" in cmdline
    ps = _docker("exec", name, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert "--model_base_path=/models/half_plus_two" in ps and "--file_system_poll_wait_seconds=2" in ps


def test_laid_out_like_the_official_image():
    # No python3, curl or wget on PATH: `command -v` prints nothing (and fails).
    out = _docker("run", "--rm", "--entrypoint", "/bin/bash", SERVING_IMAGE, "-c", "command -v python3 curl wget",
                  check=False)
    assert out.stdout == "" and out.returncode != 0, out
    out = _docker("run", "--rm", "--entrypoint", "/bin/bash", SERVING_IMAGE, "-c",
                  "command -v tensorflow_model_server bash")
    assert out.stdout.split() == ["/usr/bin/tensorflow_model_server", "/usr/bin/bash"]
    entry = json.loads(_docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", SERVING_IMAGE).stdout)
    assert entry == ["/usr/bin/tini", "--", "/usr/bin/tf_serving_entrypoint.sh"]
    # tensorflow_model_server takes TF Serving's flags (a bad model config fails as there)
    out = _docker("run", "--rm", "--entrypoint", "/bin/bash", SERVING_IMAGE, "-c",
                  "echo 'not a config' > /tmp/bad.config; tensorflow_model_server --port=8500 "
                  "--model_config_file=/tmp/bad.config", check=False, timeout=300)
    assert out.returncode == 255, out
    assert "Invalid protobuf file: '/tmp/bad.config'" in out.stdout


def test_the_bash_probe_passes_through_docker_exec(model_container):
    name, _, _ = model_container
    ok = _docker("exec", name, "bash", "-c", PROBE_SCRIPT, "probe", "health", "half_plus_two", "8501", check=False)
    assert ok.returncode == 0, ok
    status = _docker("exec", name, "bash", "-c", PROBE_SCRIPT, "probe", "status", "half_plus_two", "8501")
    assert json.loads(status.stdout)["model_version_status"][0]["state"] == "AVAILABLE"
    missing = _docker("exec", name, "bash", "-c", PROBE_SCRIPT, "probe", "health", "nope", "8501", check=False)
    assert missing.returncode == 1


def test_classify_over_rest_in_the_image(model_container):
    # half_plus_two has no classification signature: TF Serving's own error, over the image's REST port.
    _, rest, _ = model_container
    req = urllib.request.Request(f"{rest}/v1/models/half_plus_two:classify",
                                 data=json.dumps({"examples": [{"x": 1.0}]}).encode())
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("classify on a predict-only model answered 200")
    except urllib.error.HTTPError as err:
        assert err.code == 400
        assert json.loads(err.read())["error"].startswith("No classification inputs found in SignatureDef")
