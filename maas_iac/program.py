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

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from maas_iac.artifacts.base_image import pin_base_image
from maas_iac.components import ModelService
from maas_iac.errors import MaasError, SpecError
from maas_iac.gc_policy import tune_for_long_lived_objects
from maas_iac.plan import model_service_args, resolve_spec
from maas_iac.providers import ContainerSweeper, Network, Topic
from maas_iac.providers.docker_image import RegistryError, manifest_digest
from maas_iac.load_sandbox import LoadCheckSandbox
from maas_iac.resolve import Resolver, cache_dir, check_loadable
from maas_iac.spec import StackConfig, load_specs, load_stack_config

__all__ = ["main", "models_dir"]

EVENTS_PARTITIONS = 3


def models_dir() -> Path:
    """``$MAAS_MODELS_DIR`` or ``models/`` in the project directory (the program's cwd)."""
    return Path(os.environ.get("MAAS_MODELS_DIR") or Path.cwd() / "models")


def _stack_config() -> StackConfig:
    # The engine hands config over in PULUMI_CONFIG or through set_all_config, by version.
    everything = {**get_config_env(), **CONFIG.get()}
    mapping = {k: v for k, v in everything.items() if k.startswith("maas:")}
    return load_stack_config(mapping, stack=pulumi.get_stack())


def _fail(exc: MaasError) -> None:
    text = exc.render() if isinstance(exc, SpecError) else str(exc)
    raise pulumi.RunError(text)


def main() -> None:
    """Declare the whole stack. Called from the project's ``__main__.py``."""
    tune_for_long_lived_objects()
    try:
        stack = _stack_config()
        specs = load_specs([models_dir()], stack=stack)  # incl. the stack's maas:allowedSources
        resolver = Resolver(cache_dir(), registry_has=lambda repo, tag: manifest_digest(stack.registry, repo, tag) is not None,
                            check=functools.partial(check_loadable, run=LoadCheckSandbox(image=stack.serving_base_image)))
        pin = functools.lru_cache(maxsize=None)(lambda ref: pin_base_image(ref, manifest_digest))
        resolved = [(spec, resolve_spec(resolver, spec, stack, pin)) for spec in specs]
    except MaasError as exc:
        _fail(exc)
    except RegistryError as exc:
        raise pulumi.RunError(str(exc))

    network = Network("network", name=stack.network_name, labels={"maas.stack": stack.stack})
    events = Topic(
        "model-events",
        name=stack.events_topic,
        partitions=EVENTS_PARTITIONS,
        replication_factor=1,
        config={"cleanup.policy": "compact"},
        bootstrap_servers=",".join(stack.kafka.bootstrap_servers),
        opts=pulumi.ResourceOptions(protect=stack.protect),
    )
    services = []
    for spec, model in resolved:
        service = ModelService(spec.name, model_service_args(spec, stack, model, network.name, events.name))
        services.append(service)
        pulumi.export(spec.name, {
            "rest": service.rest_endpoint,
            "grpc": service.grpc_endpoint,
            "gitSha": model.revision.sha,
            "ref": spec.source.ref,
            "digest": model.digest,
            "image": service.image,
            "versions": list(model.recipe.tree.served),
            "topics": {"requests": service.requests_topic, "predictions": service.predictions_topic},
        })
    # Last: containers of the stack that no state records (an interrupted up) are removed.
    ContainerSweeper(
        "orphans",
        labels={"maas.stack": stack.stack},
        keep=pulumi.Output.all(*[s.container_ids for s in services]).apply(
            lambda lists: [i for ids in lists for i in ids]),
        opts=pulumi.ResourceOptions(depends_on=services),
    )
    pulumi.export("eventsTopic", events.name)
    pulumi.export("network", network.name)
