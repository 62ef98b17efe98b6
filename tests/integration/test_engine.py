"""The Pulumi engine with the project's dynamic providers against the real services.

Through the Automation API on a throwaway file backend: create a Kafka topic, an image in
the registry, a Docker network and a container running that image by digest; check them from outside Pulumi; a preview reports no changes;
in-place updates, the destructive-change guard and its opt-in, drift found by a refresh; destroy
leaves nothing behind. A second test runs a Python program through the language host.

Needs `scripts/setup_pulumi.sh` and `scripts/services start`.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _no_changes(preview) -> None:
    changes = {str(op): n for op, n in preview.change_summary.items() if str(op) != "same"}
    assert not changes, f"expected no changes, preview reported {changes}:\n{preview.stdout}"


def _topic(admin, name: str):
    """(partitions, {declared config}) of the topic, or None when the broker lacks it."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    metadata = admin.list_topics(timeout=10).topics
    if name not in metadata:
        return None
    resource = ConfigResource(ResourceType.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return len(metadata[name].partitions), config["retention.ms"].value


def _set_retention(admin, name: str, value: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    entry = ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)


def test_topic_and_container_lifecycle(
    inline_stack, docker_client, kafka_admin, kafka_bootstrap, registry, debian_image, tmp_path: Path
):
    import docker.errors
    import pulumi
    from maas_iac.providers import Container, Network, RegistryImage, Topic
    from maas_iac.clients.registry import manifest_digest

    uid = uuid.uuid4().hex[:8]
    context = tmp_path / "context"
    context.mkdir()
    # Fixed content under a fixed tag: the first run ever builds and pushes, later ones find it.
    (context / "Dockerfile").write_text(f"FROM {debian_image}\nLABEL maas.test=engine-it\n")
    topic_name = f"maas-it.{uid}.requests"
    wanted = {"partitions": 2, "memory_mb": 64, "allow_destructive": False}

    def program() -> None:
        topic = Topic("requests", name=topic_name, partitions=wanted["partitions"], replication_factor=1,
                      bootstrap_servers=kafka_bootstrap, config={"retention.ms": "3600000"},
                      allow_destructive=wanted["allow_destructive"])
        image = RegistryImage("image", context=str(context), registry=registry,
                              repository="maas/engine-it", tag="fixed-1")
        net = Network("net", name=f"maas-it-{uid}", labels={"maas.test": uid})
        box = Container(
            "box",
            image=image.repo_digest,
            name_prefix=f"maas-it-{uid}",
            command=["sleep", "infinity"],
            env={"MODEL_NAME": "it"},
            labels={"maas.test": uid},
            network=net.name,
            aliases=[f"replica-{uid}"],
            ports=[{"internal": 8501}],
            healthcheck={"test": ["CMD", "true"], "interval_s": 1, "retries": 2},
            memory_mb=wanted["memory_mb"],
            cpus=0.5,
            stop_grace_period_s=1,
            healthy_timeout_s=60,
        )
        pulumi.export("topic", topic.name)
        pulumi.export("container_id", box.container_id)
        pulumi.export("container_name", box.name)
        pulumi.export("host_ports", box.host_ports)
        pulumi.export("network", net.name)
        pulumi.export("repo_digest", image.repo_digest)

    stack = inline_stack(program)
    outputs = stack.up().outputs

    # Seen from outside Pulumi.
    assert _topic(kafka_admin, topic_name) == (2, "3600000")
    container = docker_client.containers.get(outputs["container_id"].value)
    assert container.status == "running"
    assert container.attrs["State"]["Health"]["Status"] == "healthy"
    assert container.name == outputs["container_name"].value and container.name.startswith(f"maas-it-{uid}-")
    assert container.labels["maas.test"] == uid
    digest = manifest_digest(registry, "maas/engine-it", "fixed-1")
    assert outputs["repo_digest"].value == f"{registry}/maas/engine-it@{digest}"
    assert container.attrs["Config"]["Image"] == outputs["repo_digest"].value
    assert "MODEL_NAME=it" in container.attrs["Config"]["Env"]
    assert container.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    endpoint = container.attrs["NetworkSettings"]["Networks"][f"maas-it-{uid}"]
    assert f"replica-{uid}" in endpoint["Aliases"]
    [binding] = container.attrs["NetworkSettings"]["Ports"]["8501/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    assert outputs["host_ports"].value == [
        {"internal": 8501, "protocol": "tcp", "host_ip": "127.0.0.1", "external": int(binding["HostPort"])}]

    _no_changes(stack.preview())

    # In place: more partitions, a new memory limit; the container is not replaced.
    wanted.update(partitions=3, memory_mb=96)
    stack.up()
    assert _topic(kafka_admin, topic_name) == (3, "3600000")
    container.reload()
    assert container.id == outputs["container_id"].value
    assert container.attrs["HostConfig"]["Memory"] == 96 * 1024 * 1024

    # Fewer partitions with the opt-in replaces the topic (delete, then create); without it,
    # the preview is refused (test_language_host_runs_a_python_program).
    wanted.update(partitions=1, allow_destructive=True)
    assert {str(op): n for op, n in stack.up().summary.resource_changes.items()} == {"replace": 1, "same": 4}
    assert _topic(kafka_admin, topic_name) == (1, "3600000")

    # Drift: stop the container and change the topic behind Pulumi's back; a refresh sees
    # both, and the next up puts them right (a new container, the declared retention).
    container.stop(timeout=1)
    _set_retention(kafka_admin, topic_name, "60000")
    stack.refresh()
    drift = stack.preview().change_summary
    assert {str(op): n for op, n in drift.items() if str(op) != "same"} == {"replace": 1, "update": 1}
    outputs = stack.up().outputs
    assert outputs["container_id"].value != container.id
    assert docker_client.containers.get(outputs["container_id"].value).status == "running"
    assert _topic(kafka_admin, topic_name) == (1, "3600000")
    _no_changes(stack.preview())

    stack.destroy()
    assert _topic(kafka_admin, topic_name) is None
    for gone in (outputs["container_id"].value, container.id):
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(gone)
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(f"maas-it-{uid}")


def test_language_host_runs_a_python_program(
    engine_env, pulumi_root: Path, tmp_path: Path, docker_client, kafka_admin, kafka_bootstrap
):
    """`pulumi up` of a program on disk: the CLI starts pulumi-language-python, which runs the
    program with this interpreter; its dynamic resources run in pulumi-python. Also: fewer
    partitions without ``allow_destructive`` fails the preview with the way out."""
    import docker.errors
    from pulumi import automation as auto

    uid = uuid.uuid4().hex[:8]
    topic_name = f"maas-it.{uid}.events"
    project = tmp_path / "program"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(textwrap.dedent(f"""\
        name: maas-langhost-it
        runtime:
          name: python
        backend:
          url: {engine_env["PULUMI_BACKEND_URL"]}
        """))
    (project / "__main__.py").write_text(textwrap.dedent(f"""\
        import pulumi
        from maas_iac.providers import Network, Topic

        net = Network("net", name="maas-it-lh-{uid}")
        Topic("events", name="{topic_name}", partitions=pulumi.Config().require_int("partitions"),
              replication_factor=1, bootstrap_servers="{kafka_bootstrap}")
        pulumi.export("network_id", net.network_id)
        """))
    stack = auto.create_stack(
        "it", work_dir=str(project),
        opts=auto.LocalWorkspaceOptions(env_vars=engine_env, secrets_provider="passphrase",
                                        pulumi_command=auto.PulumiCommand(root=str(pulumi_root))))
    try:
        stack.set_config("partitions", auto.ConfigValue("2"))
        up = stack.up()
        assert docker_client.networks.get(up.outputs["network_id"].value).name == f"maas-it-lh-{uid}"
        assert _topic(kafka_admin, topic_name)[0] == 2
        _no_changes(stack.preview())

        stack.set_config("partitions", auto.ConfigValue("1"))
        with pytest.raises(auto.CommandError) as refused:
            stack.preview()
        assert "reducing partitions of" in str(refused.value)
        assert "Set allow_destructive=True on this topic" in str(refused.value)
        assert _topic(kafka_admin, topic_name)[0] == 2
    finally:
        stack.destroy()
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(f"maas-it-lh-{uid}")
    assert _topic(kafka_admin, topic_name) is None
