"""The e2e scenarios on the production-shaped environment: the second Docker engine reached over
ssh, the TLS registry with its login, Kafka over SASL_SSL with the stack's own user.

The stack is the scratch project's ``prodlike`` stack (its user may use ``prodlike.*`` topics
only), on stacks/Pulumi.prodlike.yaml's settings with its secrets set as Pulumi secrets. It
takes the environment over: what an earlier ``prodlike`` deployment left on the second engine
is removed first. Needs `scripts/services start --prodlike && scripts/prodlike.sh seed`;
scripts/run_tests does both.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from polling import wait_until

from maas_iac.automation import PROJECT_ROOT, engine_env, scratch_project, select_stack
from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import manifest_digest
from maas_iac.examples.predict import predict_grpc, predict_rest

from .conftest import E2EStack, ExampleModels, RequestLoop, changes, clean_leftovers, owned

pytestmark = [pytest.mark.integration, pytest.mark.prodlike]

CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
PL = CACHE / "prodlike"
NAME = "prodlike"
ADDRESS = "10.213.0.2"
PORT_OFFSET = 300
X = [1.0, 2.0, 5.0]
V1 = [2.5, 3.0, 4.5]
V2 = [3.5, 4.0, 5.5]
SECRET_KEYS = ("maas:kafka.saslPassword", "maas:registryAuth.password")


def _secret(name: str) -> str:
    path = PL / name
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/services start --prodlike", pytrace=False)
    return path.read_text().strip()


def _config(models: Path) -> dict[str, Any]:
    """stacks/Pulumi.prodlike.yaml's settings without its secrets (the fixture sets them), on
    ports and a network of the test's own, allowing the test's model repository ``models``."""
    config = dict(yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.prodlike.yaml").read_text())["config"])
    config["maas:kafka"] = {k: v for k, v in config["maas:kafka"].items() if k != "saslPassword"}
    config["maas:registryAuth"] = {k: v for k, v in config["maas:registryAuth"].items() if k != "password"}
    config.update({"maas:portOffset": PORT_OFFSET, "maas:network": "maas-prodlike-e2e", "maas:protect": False,
                   "maas:allowedSources": [f"local:{models}"]})
    return config


def _kafka_admin_config() -> dict[str, Any]:
    return {"bootstrap.servers": "127.0.0.1:9094", "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
            "sasl.password": (CACHE / "secrets" / "kafka-admin.password").read_text().strip(),
            "ssl.ca.location": str(CACHE / "pki" / "ca.crt")}


def _registry() -> RegistryEndpoint:
    return RegistryEndpoint(address="10.213.0.1:5443", username="maas", password=_secret("registry.password"),
                            ca_file=str(CACHE / "pki" / "ca.crt"))


@pytest.fixture(scope="module")
def pl(tmp_path_factory) -> Iterator[E2EStack]:
    import docker
    from confluent_kafka.admin import AdminClient
    from pulumi import automation as auto

    kafka_password, registry_password = _secret("kafka.password"), _secret("registry.password")
    path = f"{PL / 'bin'}{os.pathsep}{os.environ['PATH']}"  # the ssh with the pinned host key
    os.environ["PATH"] = path
    try:
        engine = docker.DockerClient(base_url=f"ssh://root@{ADDRESS}", use_ssh_client=True, timeout=300)
        engine.ping()
    except Exception as exc:  # noqa: BLE001 - any failure: the environment is not up
        pytest.fail(f"the prodlike engine does not answer ({exc}): scripts/services start --prodlike", pytrace=False)
    admin = AdminClient(_kafka_admin_config())
    root = tmp_path_factory.mktemp("prodlike")
    repo = ExampleModels(root / "example-models")
    project = scratch_project(root / "project", NAME, _config(root / "example-models"), {})
    extra = {"PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state", "MAAS_CACHE": str(root / "cache"), "PATH": path}
    clean_leftovers(engine, admin, NAME)
    stack = select_stack(NAME, project, env=extra)
    stack.set_config("maas:kafka.saslPassword", auto.ConfigValue(kafka_password, secret=True), path=True)
    stack.set_config("maas:registryAuth.password", auto.ConfigValue(registry_password, secret=True), path=True)
    e2e = E2EStack(project=project, repo=repo, stack=stack, docker=engine, admin=admin,
                   env=engine_env(project, extra, stack=NAME), name=NAME, address=ADDRESS, port_offset=PORT_OFFSET,
                   kafka_config=_kafka_admin_config())
    e2e.logs = []  # type: ignore[attr-defined]
    try:
        with owned(e2e):
            yield e2e
    finally:
        engine.close()


def _up(pl: E2EStack):
    lines: list[str] = pl.logs  # type: ignore[attr-defined]
    return pl.stack.up(on_output=lines.append)


def test_1_first_up_builds_on_the_remote_engine_and_pushes_with_the_login(pl: E2EStack) -> None:
    import docker

    pl.set_model("hpt", ref="v1", replicas=1)
    outputs = _up(pl).outputs
    out = outputs["hpt"].value
    tag = f"md-{out['digest'][:12]}"
    digest = manifest_digest(_registry(), "maas/hpt", tag)
    assert digest is not None and out["image"] == f"10.213.0.1:5443/maas/hpt@{digest}"
    [replica] = pl.replicas("hpt")
    assert replica.attrs["Config"]["Image"] == out["image"]
    # the second engine runs it; the first engine has none of the stack's containers
    local = docker.from_env()
    try:
        assert local.containers.list(all=True, filters={"label": f"maas.stack={NAME}"}) == []
    finally:
        local.close()
    assert predict_rest(pl.rest("hpt"), X) == V1
    assert predict_grpc(pl.grpc("hpt"), "hpt", X) == V1
    assert {f"{NAME}.hpt.requests", f"{NAME}.hpt.predictions", f"{NAME}.model-events"} <= pl.stack_topics()


def test_2_noop_up_changes_nothing(pl: E2EStack) -> None:
    containers = pl.container_ids()
    up = _up(pl)
    assert changes(up.summary.resource_changes or {}) == {}, up.stdout
    assert pl.container_ids() == containers


def test_3_new_commit_rolls_out_without_a_failed_request(pl: E2EStack) -> None:
    pl.set_model("hpt", ref="v2")
    with RequestLoop(pl.rest("hpt"), rate_per_s=10) as load:
        _up(pl)
        wait_until(lambda: load.values and load.values[-1] == V2[0], 10, "the router to answer with version 2",
                   details=load.summary)
    print(f"prodlike rollout v1 -> v2: {load.summary()}")
    assert load.failures == [], load.summary()
    assert load.total >= 50 and set(load.values) <= {V1[0], V2[0]}


def test_4_a_bad_version_is_refused_and_v2_keeps_serving(pl: E2EStack) -> None:
    from pulumi import automation as auto

    containers = pl.container_ids()
    pl.set_model("hpt", ref="v3")
    try:
        with pytest.raises(auto.CommandError) as failed:
            _up(pl)
    finally:
        pl.set_model("hpt", ref="v2")
    assert "version 3 at v3" in str(failed.value) and "is not a loadable SavedModel" in str(failed.value)
    assert "Traceback" not in str(failed.value)
    assert pl.container_ids() == containers
    assert predict_rest(pl.rest("hpt"), X) == V2


def test_5_drift_is_seen_and_repaired(pl: E2EStack) -> None:
    pl.replicas("hpt")[0].remove(force=True)
    preview = pl.preview()
    assert changes(preview.change_summary).get("create") == 1, preview.stdout
    _up(pl)
    assert pl.container_ids() == pl.state_container_ids()
    assert predict_rest(pl.rest("hpt"), X) == V2


def test_6_no_secret_in_plain_text_in_state_logs_labels_or_events(pl: E2EStack) -> None:
    secrets = {"the Kafka password": _secret("kafka.password"), "the registry password": _secret("registry.password"),
               "the passphrase": pl.env.get("PULUMI_CONFIG_PASSPHRASE") or os.environ["PULUMI_CONFIG_PASSPHRASE"]}
    # the state as the backend holds it: the checkpoint, its backups and history (export_stack
    # would decrypt: the Automation API exports with --show-secrets)
    files = [p for p in (pl.project / ".pulumi-state").rglob("*") if p.is_file()]
    assert any(p.name == f"{NAME}.json" for p in files)
    places = {f"the state file {p.relative_to(pl.project)}": p.read_text(errors="replace") for p in files}
    # the secrets are in it, encrypted (the resources that use them hold ciphertext)
    assert any("4dabf18193072939515e22adb298388d" in text for text in places.values())  # Pulumi's secret signature
    places["the engine's output"] = "\n".join(pl.logs)  # type: ignore[attr-defined]
    for c in pl.containers():
        # (a bridge gets the Kafka password in its environment, which only the engine's users see)
        places[f"container {c.name} (labels, command)"] = json.dumps(
            {k: v for k, v in c.attrs["Config"].items() if k != "Env"})
        places[f"container {c.name}'s logs"] = c.logs(tail=2000).decode(errors="replace")
    image = pl.docker.images.get(pl.replicas("hpt")[0].attrs["Config"]["Image"])
    places["the model image's labels"] = json.dumps(image.labels)
    places["the model events"] = json.dumps(pl.events())
    now = int(time.time())
    places["the engine's events"] = json.dumps(list(pl.docker.events(since=now - 3600, until=now, decode=True)))
    stack_file = (pl.project / "stacks" / f"Pulumi.{NAME}.yaml").read_text()
    places["the stack file"] = stack_file
    assert "secure:" in stack_file or '"secure"' in stack_file
    leaks = [f"{what} in {where}" for where, text in places.items() for what, value in secrets.items() if value in text]
    assert leaks == [], "\n".join(leaks)


def test_7_destroy_leaves_nothing_but_the_images(pl: E2EStack) -> None:
    tag_digest = pl.stack.outputs()["hpt"].value["image"].rsplit("@", 1)[1]
    pl.stack.destroy(on_output=lambda _line: None)
    assert pl.containers() == []
    assert pl.stack_topics() == set()
    assert pl.docker.networks.list(names=["maas-prodlike-e2e"]) == []
    assert manifest_digest(_registry(), "maas/hpt", tag_digest) == tag_digest  # images stay
