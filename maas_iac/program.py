"""The Pulumi program: every spec under ``models/`` deployed on the current stack.

Stages, each in its own module: load and check every spec and the stack config
(:mod:`maas_iac.spec`), resolve each model to a Git SHA and content digest
(:mod:`maas_iac.resolve`), then declare the stack's network and events topic and one
:class:`~maas_iac.components.ModelService` per spec. Nothing touches Docker, Kafka or the
registry before every spec has passed validation; a user's mistake ends the program with one
clean error naming the file and field, never a traceback.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable, Optional

import pulumi

from maas_iac.artifacts.base_image import pin_base_image
from maas_iac.clients import Connections
from maas_iac.clients.registry import manifest_digest
from maas_iac.clients.registry_copy import image_config
from maas_iac.components import ModelService
from maas_iac.components.k8s import StackCluster
from maas_iac.errors import MaasError, PromotionError, SpecError, StackConfigError
from maas_iac.gc_policy import tune_for_long_lived_objects
from maas_iac.plan import model_service_args
from maas_iac.clients.docker import open_docker, pull_missing
from maas_iac.clients.kafka import admin_client
from maas_iac.components.model_topics import TopicArgs, kafka_topic
from maas_iac.kafka.access import scram_users
from maas_iac.kafka.cluster import kafka_provider
from maas_iac.kafka import guard as topic_guard
from maas_iac.plan import declared_topics
from maas_iac.load_sandbox import LoadCheckSandbox, load_check_image
from maas_iac.providers import ContainerSweeper, Network
from maas_iac.resolve import ResolvedModel, Resolver, cache_dir, check_loadable, resolve_pinned
from maas_iac.spec import STACK_CONFIG_KEYS, ModelServiceSpec, StackConfig, load_specs, load_stack_config
from maas_iac.spec.stack import CONFIG_NAMESPACE, check_stack_file
from maas_iac.stack_secrets import check_secrets_provider

__all__ = ["declare", "events_topic", "guard_topics", "load_check_sandbox", "main", "models_dir", "pinned_model",
           "stack_config", "stack_file"]

EVENTS_PARTITIONS = 3


def models_dir() -> Path:
    """``$MAAS_MODELS_DIR`` or ``models/`` in the project directory (the program's cwd)."""
    return Path(os.environ.get("MAAS_MODELS_DIR") or Path.cwd() / "models")


def stack_file(stack: str) -> Path:
    """The stack's file, ``stacks/Pulumi.<stack>.yaml`` (``stackConfigDir`` in Pulumi.yaml)."""
    return Path.cwd() / "stacks" / f"Pulumi.{stack}.yaml"


def stack_config() -> StackConfig:
    """The stack's settings, read through ``pulumi.Config("maas")`` (secrets decrypted by the
    engine; :class:`~maas_iac.clients.Connections` turns them back into Pulumi secrets).

    The stack file itself is checked too, when there is one, so a misspelt key is reported
    with its file and line instead of being silently unread.
    """
    stack = pulumi.get_stack()
    path = stack_file(stack)
    check_secrets_provider(stack, os.environ, path)
    if path.is_file():
        _, problems, _ = check_stack_file(path, stack=stack, display=str(path.relative_to(Path.cwd())))
        if problems:
            raise StackConfigError(problems)
    config = pulumi.Config(CONFIG_NAMESPACE)
    return load_stack_config({key: config.get(key) for key in STACK_CONFIG_KEYS}, stack=stack)


def _fail(exc: MaasError) -> None:
    text = exc.render() if isinstance(exc, SpecError) else str(exc)
    raise pulumi.RunError(text)


def main() -> None:
    """Declare the whole stack. Called from the project's ``__main__.py``."""
    tune_for_long_lived_objects()
    try:
        stack = stack_config()
        connections = Connections.from_stack(stack)
        specs = load_specs([models_dir()], stack=stack)  # incl. the stack's maas:allowedSources
        sandbox = load_check_sandbox(stack, connections)
        def lookup(registry: str, repository: str, tag: str) -> str | None:
            """A manifest digest, asked with the stack's registry login when it is that registry."""
            return manifest_digest(connections.registry if registry == connections.registry.address else registry,
                                   repository, tag)

        resolver = Resolver(
            cache_dir(), check=functools.partial(check_loadable, run=sandbox),
            registry_has=lambda repo, tag: lookup(stack.registry, repo, tag) is not None)
        pin = functools.lru_cache(maxsize=None)(lambda ref: pin_base_image(ref, lookup))
        models = [pinned_model(spec, stack, connections, lookup, pin) if spec.name in stack.promoted
                  else resolver.resolve(spec, stack, pin) for spec in specs]
        live = guard_topics(stack, connections, models)
    except MaasError as exc:
        _fail(exc)

    declare(stack, connections, models, live)


def pinned_model(spec: ModelServiceSpec, stack: StackConfig, connections: Connections,
                 lookup: Callable[[str, str, str], Optional[str]], pin: Callable[[str], str]) -> ResolvedModel:
    """A promoted model (``maas:promoted``) as the stack's registry holds it: the tag must be at
    the pinned digest, and the image's own config says what it serves. Its Git source is not read."""
    promotion = stack.promoted[spec.name]
    repository = f"maas/{spec.name}"
    found = lookup(stack.registry, repository, promotion.tag)
    if found != promotion.image:
        raise PromotionError(
            f"model {spec.name} is pinned to {stack.registry}/{repository}@{promotion.image} (maas:promoted), but the "
            f"registry has {repository}:{promotion.tag} {'nowhere' if found is None else 'at ' + found}; promote it "
            f"again: maas promote {spec.name} --from {promotion.from_stack} --to {stack.stack}")
    image = image_config(connections.registry, repository, promotion.image)
    return resolve_pinned(spec, stack, promotion, image, pin(stack.base_image_for(spec)))


def load_check_sandbox(stack: StackConfig, connections: Connections) -> LoadCheckSandbox:
    """The SavedModel load check on the stack's engine, which pulls the image it runs (logged in
    to the stack's registry) when it lacks it: the stack's serving base image when that is the
    project's, else the project's serving image on the stack's registry."""
    return LoadCheckSandbox(image=stack.serving_base_image, fallback=load_check_image(stack.registry),
                            connect=lambda: open_docker(connections.docker),
                            pull=lambda client, image: pull_missing(client, connections.docker, image))


def events_topic(stack: StackConfig) -> TopicArgs:
    """The stack's compacted ``<stack>.model-events`` topic, keyed by model."""
    return TopicArgs(name=stack.events_topic, partitions=EVENTS_PARTITIONS, replication_factor=1,
                     config={"cleanup.policy": "compact"})


def guard_topics(stack: StackConfig, connections: Connections, models: list[ResolvedModel]) -> frozenset[str]:
    """Compare every declared topic with the live cluster before anything is registered:
    refuse changes that would recreate a topic (:mod:`maas_iac.kafka.guard`), and return the
    declared topics that already exist, which the program adopts instead of creating."""
    events = events_topic(stack)
    declared = [topic_guard.DeclaredTopic(events.name, events.partitions, events.replication_factor, owner="the stack")]
    declared += [t for model in models for t in declared_topics(model, stack)]
    live = topic_guard.live_topics(admin_client(connections.kafka), [t.name for t in declared])
    topic_guard.check_declared_topics(declared, live)
    return frozenset(live)


def declare(stack: StackConfig, connections: Connections, models: list[ResolvedModel],
            live_topics: frozenset[str] = frozenset()) -> list[ModelService]:
    """Declare the stack's resources for its resolved models: the network (on Kubernetes, the
    provider and namespace), the stack's Kafka provider and events topic, one
    :class:`ModelService` per model and, on Docker, the orphan sweeper.
    ``live_topics`` are adopted. No I/O but registrations."""
    docker = connections.docker.to_props()
    cluster = None
    network_name: pulumi.Input[str] = ""
    if connections.kubernetes is None:
        network = Network("network", name=stack.network_name, labels={"maas.stack": stack.stack}, docker=docker)
        network_name = network.name
    else:
        cluster = StackCluster(stack.stack, connections.kubernetes, connections.registry).target
    kafka = kafka_provider("kafka", connections.kafka)
    users = {name: secret.reveal() for name, secret in stack.kafka_users.items()}
    credentials = scram_users(users, stack.kafka.sasl_mechanism or "SCRAM-SHA-512", provider=kafka)
    events_args = events_topic(stack)
    events = kafka_topic("model-events", events_args, provider=kafka, adopt=events_args.name in live_topics,
                         protect=stack.protect)
    services = []
    for model in models:
        service = ModelService(model.name, model_service_args(model, stack, connections, network_name, events.name,
                                                              kafka=kafka, live_topics=live_topics,
                                                              credentials=credentials, cluster=cluster))
        services.append(service)
        pulumi.export(model.name, {
            "rest": service.rest_endpoint,
            "grpc": service.grpc_endpoint,
            "gitSha": model.git_sha,
            "ref": model.spec.source.ref,
            "digest": model.digest,
            "image": service.image,
            "versions": list(model.served),
            "topics": {"requests": service.requests_topic, "predictions": service.predictions_topic},
        })
    pulumi.export("eventsTopic", events.name)
    if cluster is not None:
        pulumi.export("namespace", cluster.namespace)
        return services
    # Last: containers of the stack that no state records (an interrupted up) are removed.
    ContainerSweeper(
        "orphans",
        labels={"maas.stack": stack.stack},
        keep=pulumi.Output.all(*[s.container_ids for s in services]).apply(
            lambda lists: [i for ids in lists for i in ids]),
        docker=docker,
        opts=pulumi.ResourceOptions(depends_on=services),
    )
    pulumi.export("network", network_name)
    return services
