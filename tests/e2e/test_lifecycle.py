"""A model service's life on the ``e2e`` stack, as a user would live it, in order.

Two models from one repository of real SavedModels: ``hpt`` (2 replicas, the one that changes)
and ``echo`` (1 replica, which must never be touched by ``hpt`` 's changes). Each scenario
starts from where the previous one left the stack:

1. first up · 2. no-op up · 3. new model commit under load · 4. scaling and topic partitions
under load · 5. a corrupt version under load · 6. drift repaired · 7. an interrupted up ·
8. destroy.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from polling import wait_until

from maas_iac.examples.predict import predict_grpc, predict_rest

from .conftest import STACK, E2EStack, GrpcLoop, RequestLoop, changes, registry_tags

pytestmark = pytest.mark.integration

MODELS = ("hpt", "echo")
X = [1.0, 2.0, 5.0]
V1 = [2.5, 3.0, 4.5]  # y = x/2 + 2
V2 = [3.5, 4.0, 5.5]  # y = x/2 + 3


def _state_by_name(e2e: E2EStack) -> dict[str, dict]:
    return {r["urn"].rsplit("::", 1)[1]: r for r in e2e.state_resources() if not r.get("delete")}


def _model_events(e2e: E2EStack, model: str) -> list[dict]:
    return [r["value"] for r in e2e.events() if r["key"] == model and r["value"]]


def _healthy(containers) -> bool:
    for c in containers:
        c.reload()
    return all(c.status == "running" and c.attrs["State"].get("Health", {}).get("Status") == "healthy"
               for c in containers)


def _converged(e2e: E2EStack, hpt_replicas: int) -> None:
    """Docker runs exactly what the state records: no orphan, nothing missing."""
    assert e2e.container_ids() == e2e.state_container_ids()
    assert len(e2e.replicas("hpt")) == hpt_replicas and len(e2e.replicas("echo")) == 1
    assert _healthy(e2e.replicas("hpt") + e2e.replicas("echo"))


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the engine starts its plugins in their own groups)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _changed_names(events) -> set[str]:
    """Names of the resources a preview or update would touch (not 'same', nor the refresh
    that the project runs first)."""
    out = set()
    for ev in events:
        pre = ev.resource_pre_event
        if pre and str(getattr(pre.metadata.op, "value", pre.metadata.op)) not in ("same", "refresh"):
            out.add(pre.metadata.urn.rsplit("::", 1)[1])
    return out


def test_1_first_up_builds_serves_and_announces(e2e: E2EStack) -> None:
    e2e.set_model("hpt", ref="v1", replicas=2)
    e2e.set_model("echo", ref="v1", replicas=1)
    before = {m: registry_tags(f"maas/{m}") for m in MODELS}

    outputs = e2e.up().outputs

    state = _state_by_name(e2e)
    for m in MODELS:
        out = outputs[m].value
        assert out["gitSha"] == e2e.repo.sha("v1") and out["versions"] == [1]
        tag = f"md-{out['digest'][:12]}"
        after = registry_tags(f"maas/{m}")
        assert set(after) - set(before[m]) == {tag}, "one new image per model"
        assert out["image"] == f"127.0.0.1:5000/maas/{m}@{after[tag]}"
        assert state[f"{m}-image-image"]["outputs"]["built"] is True
    assert len(e2e.replicas("hpt")) == 2 and len(e2e.replicas("echo")) == 1
    assert _healthy(e2e.replicas("hpt") + e2e.replicas("echo"))
    assert e2e.container_ids() == e2e.state_container_ids()
    for c in e2e.replicas("hpt"):
        assert c.attrs["Config"]["Image"] == outputs["hpt"].value["image"]
        # docker inspect: the deployed replica's health check runs bash alone, as the official
        # image (no python3, curl or wget there) allows.
        check = c.attrs["Config"]["Healthcheck"]["Test"]
        assert check[0] == "CMD" and check[1].endswith("bash"), check
        assert not {"python3", "python", "curl", "wget"} & set(" ".join(check).replace("/", " ").split()), check

    assert predict_rest(e2e.rest("hpt"), X) == V1
    assert predict_grpc(e2e.grpc("hpt"), "hpt", X) == V1
    assert predict_rest(e2e.rest("echo"), X) == V1

    for m in MODELS:
        partitions, config = e2e.topic(f"{STACK}.{m}.requests")
        assert partitions == 3 and config["retention.ms"] == "3600000" and config["cleanup.policy"] == "delete"
        partitions, config = e2e.topic(f"{STACK}.{m}.predictions")
        assert partitions == 3 and config["retention.ms"] == "7200000"
    assert e2e.topic(f"{STACK}.model-events")[1]["cleanup.policy"] == "compact"

    [event] = _model_events(e2e, "hpt")
    assert event["type"] == "ModelVersionDeployed" and event["stack"] == STACK
    assert event["gitSha"] == e2e.repo.sha("v1") and event["digest"] == outputs["hpt"].value["digest"]
    assert event["versions"] == [1] and event["replicas"] == 2


def test_2_noop_up_changes_builds_and_restarts_nothing(e2e: E2EStack) -> None:
    containers = e2e.container_ids()
    tags = {m: registry_tags(f"maas/{m}") for m in MODELS}
    events = len(e2e.events())

    start = time.monotonic()
    up = e2e.up()
    took = time.monotonic() - start

    assert changes(up.summary.resource_changes or {}) == {}, up.stdout
    assert e2e.container_ids() == containers
    assert {m: registry_tags(f"maas/{m}") for m in MODELS} == tags
    assert len(e2e.events()) == events
    print(f"no-op up: {took:.1f}s")


def test_3_new_commit_rolls_out_without_a_failed_request(e2e: E2EStack) -> None:
    echo_before = e2e.container_ids(**{"maas.model": "echo"})
    e2e.set_model("hpt", ref="v2")

    seen = []
    preview = e2e.preview(on_event=seen.append)
    touched = _changed_names(seen)
    assert {"hpt-image-image", "hpt-replicas-0", "hpt-replicas-1", "hpt-bridge-0"} <= touched
    # Besides hpt's own resources (its bridge stamps the new Git SHA and digest on its answers),
    # only the stack's orphan sweeper (its list of containers).
    assert touched <= {"hpt-image-image", "hpt-replicas-0", "hpt-replicas-1", "hpt-bridge-0", "hpt-deployed",
                       "orphans"}, touched
    assert changes(preview.change_summary) == {"replace": 4, "update": 2}

    with RequestLoop(e2e.rest("hpt")) as load, GrpcLoop(e2e.grpc("hpt"), "hpt") as gload:
        start = time.monotonic()
        outputs = e2e.up().outputs
        took = time.monotonic() - start
        wait_until(lambda: load.values and load.values[-1] == V2[0], 10, "the router to answer with version 2",
                   details=load.summary)
    print(f"rollout v1 -> v2: {took:.1f}s; REST {load.summary()}; gRPC {gload.summary()}")
    assert load.failures == [], load.summary()
    assert gload.failures == [] and gload.total >= 50, gload.summary()
    assert load.rate >= 20 and load.total >= 100
    assert set(load.values) <= {V1[0], V2[0]} and load.values[-1] == V2[0]

    assert predict_rest(e2e.rest("hpt"), X) == V2
    assert e2e.container_ids(**{"maas.model": "echo"}) == echo_before
    _converged(e2e, hpt_replicas=2)
    events = _model_events(e2e, "hpt")
    assert len(events) == 2
    assert events[-1]["gitSha"] == e2e.repo.sha("v2") and events[-1]["digest"] == outputs["hpt"].value["digest"]
    assert events[-1]["versions"] == [2]


def test_3b_grpc_serves_the_new_version_after_the_rollout(e2e: E2EStack) -> None:
    assert predict_grpc(e2e.grpc("hpt"), "hpt", X) == V2


def _refused_up(e2e: E2EStack, model: str, *, restore: dict, **change) -> str:
    """The error of an ``up`` with ``change`` to ``model``'s spec (it must fail, with no
    traceback); the spec gets ``restore`` back whatever happens."""
    from pulumi import automation as auto

    e2e.set_model(model, **change)
    try:
        with pytest.raises(auto.CommandError) as refused:
            e2e.up()
    finally:
        e2e.set_model(model, **restore)
    assert "Traceback" not in str(refused.value)
    return str(refused.value)


def test_4_scaling_and_partitions(e2e: E2EStack) -> None:
    with RequestLoop(e2e.rest("hpt")) as load:
        e2e.set_model("hpt", replicas=3)
        up = e2e.up()
        assert changes(up.summary.resource_changes) == {"create": 1, "update": 2}
        _converged(e2e, hpt_replicas=3)
        e2e.set_model("hpt", replicas=2)
        up = e2e.up()
        assert changes(up.summary.resource_changes) == {"delete": 1, "update": 2}
        _converged(e2e, hpt_replicas=2)
    print(f"scale 2 -> 3 -> 2: {load.summary()}")
    assert load.failures == [], load.summary()
    assert load.rate >= 20

    containers = e2e.container_ids()
    e2e.set_model("hpt", partitions=6)
    up = e2e.up()
    assert changes(up.summary.resource_changes) == {"update": 1}
    assert e2e.topic(f"{STACK}.hpt.requests")[0] == 6
    assert e2e.container_ids() == containers

    refused = _refused_up(e2e, "hpt", partitions=3, restore={"partitions": 6})
    assert (f"topic {STACK}.hpt.requests (model hpt): its partitions would go from 6 to 3 "
            "(Kafka can only add partitions)") in refused
    assert "topics.allowDestructiveChanges: true" in refused
    assert e2e.topic(f"{STACK}.hpt.requests")[0] == 6
    assert e2e.container_ids() == containers

    # A replication factor change would recreate the topic too: refused the same way, on the
    # real engine, before anything is planned.
    refused = _refused_up(e2e, "hpt", replication=2, restore={"replication": 1})
    assert f"topic {STACK}.hpt.requests (model hpt): its replication factor would change from 1 to 2" in refused
    assert e2e.container_ids() == containers


def test_5_corrupt_version_is_refused_before_any_build(e2e: E2EStack) -> None:
    from pulumi import automation as auto

    containers = e2e.container_ids()
    tags = registry_tags("maas/hpt")
    events = len(e2e.events())
    e2e.set_model("hpt", ref="v3")
    try:
        with RequestLoop(e2e.rest("hpt")) as load:
            start = time.monotonic()
            with pytest.raises(auto.CommandError) as failed:
                e2e.up()
            took = time.monotonic() - start
            # The load keeps running past the refused up: it must still see only version 2.
            after = load.total
            wait_until(lambda: load.total >= after + 20, 10, "20 more predictions after the refused up",
                       details=load.summary)
    finally:
        e2e.set_model("hpt", ref="v2")
    message = str(failed.value)
    assert f"model hpt: version 3 at v3 ({e2e.repo.sha('v3')[:12]}) is not a loadable SavedModel" in message
    print(f"corrupt version refused in {took:.1f}s; {load.summary()}")
    assert load.failures == [], load.summary()
    assert set(load.values) == {V2[0]}
    assert registry_tags("maas/hpt") == tags
    assert e2e.container_ids() == containers
    assert len(e2e.events()) == events


def test_6_drift_is_seen_and_repaired(e2e: E2EStack) -> None:
    victim = e2e.replicas("hpt")[0]
    victim.remove(force=True)
    topic = f"{STACK}.hpt.predictions"
    e2e.admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    wait_until(lambda: e2e.topic(topic) is None, 30, f"the broker to stop listing {topic}")

    seen = []
    preview = e2e.preview(on_event=seen.append)  # the project refreshes first (Pulumi.yaml)
    assert changes(preview.change_summary) == {"create": 2, "update": 1}, preview.stdout
    assert {"hpt-topics-predictions"} < _changed_names(seen)

    e2e.up()
    assert e2e.topic(topic)[0] == 3
    _converged(e2e, hpt_replicas=2)
    assert victim.id not in e2e.container_ids()
    assert changes(e2e.preview().change_summary) == {}


def test_7_interrupted_up_converges_on_the_next(e2e: E2EStack) -> None:
    known = e2e.container_ids()
    e2e.set_model("hpt", ref="v1")  # a rollout back to v1 (its image is in the registry)
    cli = e2e.pulumi_cli("up", "--yes", "--skip-preview")
    plugins: list[int] = []
    try:
        def new_replicas() -> set[str]:
            return {c.id for c in e2e.replicas("hpt")} - known

        def new_replica_running() -> bool:
            """True once a new replica runs; fails when the run ends (or its replica goes) first."""
            if cli.poll() is not None:
                pytest.fail(f"the up ended (exit {cli.returncode}) before a new replica ran:\n{e2e.cli_log()}")
            running = [c for c in e2e.replicas("hpt") if c.id not in known and c.attrs["State"]["Running"]]
            return bool(running)

        wait_until(new_replica_running, 120, "the rollout to run a new replica", details=e2e.cli_log)
        new = new_replicas()
        # Interrupted once the new replica runs (its create waits for the health check).
        plugins = _descendants(cli.pid)
        cli.send_signal(signal.SIGKILL)  # the CLI alone: its plugins live on, as they would
        cli.wait(30)

        # The file backend keeps the dead CLI's lock: `pulumi cancel` is the one manual step.
        e2e.stack.cancel()
        # What the killed run created and its state does not record (creates it finished, such
        # as the bridge's, which waits for no health check, are the stack's own).
        orphans = (e2e.container_ids() - known) - e2e.state_container_ids()
        assert new & orphans, f"no replica whose create was interrupted is an orphan: new {new}, orphans {orphans}"
        with RequestLoop(e2e.rest("hpt")) as load:
            up = e2e.up()
    finally:
        if cli.poll() is None:  # a failure above: the next tests need the stack unlocked
            cli.send_signal(signal.SIGKILL)
            cli.wait(30)
            e2e.stack.cancel()
        for pid in plugins:  # the dead CLI's language host and provider
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(f"up after SIGKILL: {up.summary.resource_changes}; {load.summary()}")
    assert not orphans & e2e.container_ids(), "the interrupted run's containers are gone"
    _converged(e2e, hpt_replicas=2)
    assert predict_rest(e2e.rest("hpt"), X) == V1
    assert load.failures == [], load.summary()
    assert changes(e2e.preview().change_summary) == {}


def test_8_destroy_leaves_nothing_but_images(e2e: E2EStack) -> None:
    tags = {m: registry_tags(f"maas/{m}") for m in MODELS}
    e2e.stack.destroy(on_output=lambda _line: None)
    assert e2e.containers() == []
    assert e2e.docker.networks.list(names=[f"maas-{STACK}"]) == []
    assert e2e.stack_topics() == set()
    assert {m: registry_tags(f"maas/{m}") for m in MODELS} == tags
