"""The Pulumi engine with the project's dynamic providers against the real services.

Through the Automation API on a throwaway file backend: create an image in the registry, a
Docker network and a container running that image by digest; check them from outside Pulumi;
a preview reports no changes; an in-place update, drift found by a refresh; destroy leaves
nothing behind. A second test runs a Python program through the language host.

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


def test_image_network_and_container_lifecycle(inline_stack, docker_client, registry, debian_image, tmp_path: Path):
    """The dynamic Docker resources through the real engine (topics are pulumi-kafka's:
    tests/integration/test_kafka_plugin.py)."""
    import docker.errors
    import pulumi
    from maas_iac.providers import Container, Network, RegistryImage
    from maas_iac.clients.registry import manifest_digest

    uid = uuid.uuid4().hex[:8]
    context = tmp_path / "context"
    context.mkdir()
    # Fixed content under a fixed tag: the first run ever builds and pushes, later ones find it.
    (context / "Dockerfile").write_text(f"FROM {debian_image}\nLABEL maas.test=engine-it\n")
    wanted = {"memory_mb": 64}

    def program() -> None:
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
        pulumi.export("container_id", box.container_id)
        pulumi.export("container_name", box.name)
        pulumi.export("host_ports", box.host_ports)
        pulumi.export("network", net.name)
        pulumi.export("repo_digest", image.repo_digest)

    stack = inline_stack(program)
    outputs = stack.up().outputs

    # Seen from outside Pulumi.
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

    # In place: a new memory limit; the container is not replaced.
    wanted.update(memory_mb=96)
    stack.up()
    container.reload()
    assert container.id == outputs["container_id"].value
    assert container.attrs["HostConfig"]["Memory"] == 96 * 1024 * 1024

    # Drift: stop the container behind Pulumi's back; a refresh sees it, and the next up
    # brings a new one.
    container.stop(timeout=1)
    stack.refresh()
    drift = stack.preview().change_summary
    assert {str(op): n for op, n in drift.items() if str(op) != "same"} == {"replace": 1}
    outputs = stack.up().outputs
    assert outputs["container_id"].value != container.id
    assert docker_client.containers.get(outputs["container_id"].value).status == "running"
    _no_changes(stack.preview())

    stack.destroy()
    for gone in (outputs["container_id"].value, container.id):
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(gone)
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(f"maas-it-{uid}")


def test_language_host_runs_a_python_program(engine_env, pulumi_root: Path, tmp_path: Path, docker_client):
    """`pulumi up` of a program on disk: the CLI starts pulumi-language-python, which runs the
    program with this interpreter; its dynamic resources run in pulumi-python, and the stack's
    config reaches the program."""
    import docker.errors
    from pulumi import automation as auto

    uid = uuid.uuid4().hex[:8]
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
        from maas_iac.providers import Network

        net = Network("net", name="maas-it-lh-{uid}", labels={{"maas.test": pulumi.Config().require("label")}})
        pulumi.export("network_id", net.network_id)
        """))
    stack = auto.create_stack(
        "it", work_dir=str(project),
        opts=auto.LocalWorkspaceOptions(env_vars=engine_env, secrets_provider="passphrase",
                                        pulumi_command=auto.PulumiCommand(root=str(pulumi_root))))
    try:
        stack.set_config("label", auto.ConfigValue(uid))
        up = stack.up()
        network = docker_client.networks.get(up.outputs["network_id"].value)
        assert network.name == f"maas-it-lh-{uid}" and network.attrs["Labels"] == {"maas.test": uid}
        _no_changes(stack.preview())
    finally:
        stack.destroy()
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(f"maas-it-lh-{uid}")
