"""The load check in its sandbox, against a hostile SavedModel whose signatures (which the
server calls while loading) read ``/proc/self/environ`` and a host file and write markers on
the host: on the host it succeeds (the control), in the sandbox nothing leaves it. The check
still tells a loadable model from a corrupt one. Needs dockerd and the serving image
(scripts/build_serving_image.sh)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maas_dataplane.contract import PYTHON
from maas_iac.errors import SourceError
from maas_iac.load_sandbox import (
    DEFAULT_LOAD_CHECK_IMAGE,
    LoadCheckSandbox,
    SandboxLimits,
    SandboxTimeout,
    run_sandboxed,
)
from maas_iac.resolve import Resolver, check_loadable
from maas_iac.spec import load_stack_config
from maas_iac.spec.model import Metadata, ModelServiceSpec, Ports, Serving, Source, SpecificVersions

pytestmark = pytest.mark.integration

SECRET = "sekrit-marker"
HOST_SECRET = "host-file-sekrit-0451"

HOSTILE = r'''
import sys
import tensorflow as tf

out, host_file, marker_env, marker_file = sys.argv[1:5]

class Hostile(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def steal_env(self, x):
        tf.io.write_file(marker_env, tf.io.read_file("/proc/self/environ"))
        return {"y": x + 1.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def steal_file(self, x):
        tf.io.write_file(marker_file, tf.io.read_file(host_file))
        return {"y": x + 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def tamper(self, x):
        tf.io.write_file("/models/1/pwned", tf.constant("x"))
        return {"y": x + 3.0}

m = Hostile()
tf.saved_model.save(m, out, signatures={"serving_default": m.steal_env, "steal_file": m.steal_file,
                                        "tamper": m.tamper})
'''


@pytest.fixture(scope="module")
def sandbox_image(docker_client) -> str:
    image = os.environ.get("MAAS_LOAD_CHECK_IMAGE") or DEFAULT_LOAD_CHECK_IMAGE
    try:
        docker_client.images.get(image)
    except Exception:  # noqa: BLE001
        pytest.fail(f"{image} is missing; run scripts/build_serving_image.sh", pytrace=False)
    return image


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    paths = {"model": tmp_path / "model" / "1", "host_file": tmp_path / "host-secret.txt",
             "marker_env": tmp_path / "marker-env", "marker_file": tmp_path / "marker-file"}
    paths["host_file"].write_text(HOST_SECRET)
    subprocess.run([sys.executable, "-c", HOSTILE, str(paths["model"]), str(paths["host_file"]),
                    str(paths["marker_env"]), str(paths["marker_file"])], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    paths["model"].chmod(0o755)
    return paths


def _no_leftover_containers(client) -> None:
    """Neither a container nor the volume the versions were copied into is left."""
    assert client.containers.list(all=True, filters={"label": "io.maas-iac.role=load-check"}) == []
    assert client.volumes.list(filters={"label": "io.maas-iac.role=load-check"}) == []


def test_the_hostile_model_really_steals_when_loaded_on_the_host(hostile) -> None:
    """The control: the same load, unsandboxed, leaks the secret and the host file."""
    done = subprocess.run([sys.executable, "-m", "maas_dataplane.load_check", "evil", f"1:{hostile['model']}"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": SECRET, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr
    assert SECRET in hostile["marker_env"].read_text(errors="replace")
    assert hostile["marker_file"].read_text() == HOST_SECRET


def test_in_the_sandbox_nothing_leaves(hostile, docker_client, sandbox_image, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", SECRET)
    result = LoadCheckSandbox(client=docker_client)("evil", {1: hostile["model"]})
    assert not hostile["marker_env"].exists()
    assert not hostile["marker_file"].exists()
    assert not (hostile["model"] / "pwned").exists()
    assert SECRET not in result.stdout + result.stderr
    assert HOST_SECRET not in result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "{}"  # it loads: the thefts fail inside
    _no_leftover_containers(docker_client)


def test_the_sandbox_has_no_network_no_host_environment_and_no_privileges(docker_client, sandbox_image,
                                                                           tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", SECRET)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "f").write_text("model bytes")
    probe = r'''
import os, socket
print("net", sorted(os.listdir("/sys/class/net")))
s = socket.socket(); s.settimeout(3)
try:
    s.connect(("127.0.0.1", 5000)); print("connect ok")
except OSError as e:
    print("connect failed", type(e).__name__)
try:
    socket.getaddrinfo("pypi.org", 443); print("dns ok")
except OSError as e:
    print("dns failed")
print("uid", os.getuid(), os.getgid())
print("cap", [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0])
print("nnp", [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0])
print("env", sorted(os.environ))
print("copied", open("/models/1/f").read())
for path in ("/models/new", "/models/1/new", "/models/1/f", "/etc/x", "/opt/maas/x"):
    try:
        open(path, "w"); print("wrote", path)
    except OSError as e:
        print("write failed", path)
print("environ", open("/proc/self/environ").read())
'''
    result = run_sandboxed(docker_client, sandbox_image, [PYTHON, "-c", probe], inputs={"/models/1": tmp_path / "v"},
                           limits=SandboxLimits(timeout_s=60))
    out = result.stdout
    assert result.exit_code == 0, result.stderr
    assert "net ['lo']" in out
    assert "connect failed ConnectionRefusedError" in out  # the host's registry is not there
    assert "dns failed" in out
    assert "uid 65534 65534" in out
    assert "cap 0000000000000000" in out and "nnp 1" in out
    assert "copied model bytes" in out
    assert "wrote" not in out and out.count("write failed") == 5  # the copies are root's
    assert SECRET not in out and "PULUMI" not in out
    assert not (tmp_path / "v" / "new").exists()
    _no_leftover_containers(docker_client)


def test_a_run_past_its_limit_is_killed_and_removed(docker_client, sandbox_image) -> None:
    with pytest.raises(SandboxTimeout):
        run_sandboxed(docker_client, sandbox_image, [PYTHON, "-c", "import time; time.sleep(120)"],
                      limits=SandboxLimits(timeout_s=3))
    _no_leftover_containers(docker_client)


def test_an_image_without_the_data_plane_falls_back_to_ours(docker_client, sandbox_image, monkeypatch) -> None:
    monkeypatch.delenv("MAAS_LOAD_CHECK_IMAGE", raising=False)
    assert LoadCheckSandbox(image="maas/debian:bookworm", client=docker_client).chosen_image() == DEFAULT_LOAD_CHECK_IMAGE
    assert LoadCheckSandbox(image="tensorflow/serving:2.19.0",
                            client=docker_client).chosen_image() == DEFAULT_LOAD_CHECK_IMAGE
    assert LoadCheckSandbox(image=sandbox_image, client=docker_client).chosen_image() == sandbox_image


def test_the_sandboxed_check_tells_a_loadable_model_from_a_corrupt_one(model_repo, tmp_path: Path,
                                                                       docker_client, sandbox_image) -> None:
    from maas_iac.examples.half_plus_two import export

    base = model_repo.path / "models" / "m"
    export(base, 2)
    shutil.copytree(base / "2", base / "3")
    pb = base / "3" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 2])
    model_repo.commit("a good version 2 and a truncated version 3")
    check = functools.partial(check_loadable, run=LoadCheckSandbox(client=docker_client))

    def resolve(*versions: int):
        spec = ModelServiceSpec(
            metadata=Metadata(name="m"),
            source=Source(repository=str(model_repo.path), ref="main", path="models/m",
                          versions=SpecificVersions(versions=tuple(versions))),
            serving=Serving(ports=Ports(rest=8501, grpc=8500), base_image=sandbox_image))
        stack = load_stack_config({"registry": "127.0.0.1:5000", "dockerHost": "unix:///var/run/docker.sock",
                                   "kafka": {"bootstrapServers": "127.0.0.1:9092"}}, stack="sandbox")
        return Resolver(tmp_path / "cache", check=check).resolve(spec, stack)

    assert (resolve(2).context / "Dockerfile").is_file()
    with pytest.raises(SourceError, match=r"model m: version 3 at main \(.*\) is not a loadable SavedModel"):
        resolve(2, 3)
    with pytest.raises(SourceError, match="version 1 .* is not a loadable SavedModel"):
        resolve(1)
    _no_leftover_containers(docker_client)
