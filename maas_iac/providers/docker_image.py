"""A model image in a registry: built (legacy builder) and pushed only when the tag is new.

The tag is the identity: the caller derives it from the image's content (``md-<digest>``),
so a tag the registry already has is never rebuilt or re-pushed, and nothing else about the
inputs (context path, build args, labels) is compared by diff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from maas_iac.clients.docker import log_in
from maas_iac.clients.endpoints import RegistryEndpoint
from maas_iac.clients.registry import manifest_digest
from maas_iac.errors import PromotionError, RegistryError

from ._common import GONE, changed_keys, docker_client, docker_endpoint, docker_props, plain

_IDENTITY = ("registry", "repository", "tag")
def _check_stream(events: Any, what: str) -> list[str]:
    """Drains a Docker build/push event stream; raises with the daemon's error and the tail."""
    tail: list[str] = []
    for event in events:
        if "error" in event:
            context = "".join(tail[-15:]).rstrip()
            raise RuntimeError(f"{what} failed: {event['error'].strip()}\n{context}")
        if "stream" in event:
            tail.append(event["stream"])
    return tail


def _registry(props: dict[str, Any]) -> RegistryEndpoint:
    """The image's registry, with the login the ``docker`` input carries for it."""
    login = docker_endpoint(props).registry
    if login is not None and login.address == props["registry"]:
        return login
    return RegistryEndpoint(address=props["registry"])


class RegistryImageProvider(ResourceProvider):
    """Create = build + push unless the registry has the tag; delete keeps what was pushed."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        registry, repository, tag = (props[k] for k in _IDENTITY)
        ref = f"{registry}/{repository}"
        if props.get("pinned_digest"):
            return CreateResult(f"{ref}:{tag}", self._pinned_outputs(props))
        digest = manifest_digest(_registry(props), repository, tag)
        built = digest is None
        if built:
            with docker_client(props) as client:
                log_in(client, docker_endpoint(props))
                _check_stream(client.api.build(
                    path=props["context"],
                    dockerfile=props["dockerfile"],
                    tag=f"{ref}:{tag}",
                    buildargs=props["build_args"] or None,
                    labels=props["labels"] or None,
                    rm=True,
                    forcerm=True,
                    decode=True,
                ), f"docker build of {ref}:{tag} from {props['context']}")
                _check_stream(client.api.push(ref, tag=tag, stream=True, decode=True),
                              f"docker push of {ref}:{tag}")
            digest = manifest_digest(_registry(props), repository, tag)
            if digest is None:
                raise RegistryError(f"{ref}:{tag} was pushed but the registry does not list it")
        outs = {k: plain(props.get(k)) for k in _INPUTS}
        outs["docker"] = docker_props(props)
        outs.update(image_ref=f"{ref}:{tag}", repo_digest=f"{ref}@{digest}", built=built)
        return CreateResult(f"{ref}:{tag}", outs)

    def _pinned_outputs(self, props: dict[str, Any]) -> dict[str, Any]:
        """A promoted image: nothing is built; the registry must have the tag at the pinned digest."""
        registry, repository, tag = (props[k] for k in _IDENTITY)
        pinned, ref = props["pinned_digest"], f"{registry}/{repository}"
        digest = manifest_digest(_registry(props), repository, tag)
        if digest != pinned:
            model = repository.rsplit("/", 1)[-1]
            raise PromotionError(
                f"{ref}:{tag} is {'missing' if digest is None else digest} in the registry, not the promoted {pinned}; "
                f"promote it again (maas promote {model} --from {props.get('promoted_from') or 'SOURCE'} --to STACK)")
        outs = {k: plain(props.get(k)) for k in _INPUTS}
        outs["docker"] = docker_props(props)
        outs.update(image_ref=f"{ref}:{tag}", repo_digest=f"{ref}@{pinned}", built=False)
        return outs

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only a new pin on the same tag gets here (diff): check it, and run the pinned digest.
        return UpdateResult(self._pinned_outputs(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        digest = manifest_digest(_registry(props), props["repository"], props["tag"])
        if digest is None:
            return GONE
        return ReadResult(id_, {**props, "repo_digest": f"{props['registry']}/{props['repository']}@{digest}"})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_keys(olds, news, _IDENTITY)
        if changed:
            return DiffResult(changes=True, replaces=changed)
        # A pin on the tag this stack has: an update when the image it records is another digest.
        pinned = news.get("pinned_digest")
        repinned = bool(pinned) and not str(olds.get("repo_digest") or "").endswith(f"@{pinned}")
        return DiffResult(changes=repinned, replaces=[])

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # Pushed images stay: the tag is content-addressed, other stacks or a rollback may use
        # it, and reclaiming space is the registry's garbage collection's job.
        return None


_INPUTS = ("context", "dockerfile", "registry", "repository", "tag", "build_args", "labels", "pinned_digest",
           "promoted_from")


class RegistryImage(pulumi.dynamic.Resource, module="docker", name="RegistryImage"):
    """An image built from a context directory and pushed to a registry.

    Only ``registry``, ``repository`` and ``tag`` are compared: a new tag replaces the
    resource (build + push, unless the registry has it already); the same tag changes
    nothing. ``pulumi refresh`` notices a tag the registry no longer has, or that now points
    at another digest. Deleting the resource leaves the image in the registry.

    Outputs: every input, plus ``image_ref`` (``registry/repository:tag``), ``repo_digest``
    (``registry/repository@sha256:...``, what containers should run) and ``built`` (whether
    this create built and pushed, False on a registry cache hit).

    With ``pinned_digest`` (a promoted model) nothing is ever built: create checks that the
    registry has the tag at that digest and fails otherwise (promote again); the replicas run
    ``registry/repository@pinned_digest``. A pin on a tag the resource already has is an
    update (the same check), not a replacement.
    """

    if TYPE_CHECKING:  # not at run time: see "Output annotations" in maas_iac.providers
        image_ref: pulumi.Output[str]
        repo_digest: pulumi.Output[str]
        built: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        context: pulumi.Input[str],
        repository: pulumi.Input[str],
        tag: pulumi.Input[str],
        registry: pulumi.Input[str],
        dockerfile: pulumi.Input[str] = "Dockerfile",
        build_args: Optional[pulumi.Input[dict[str, str]]] = None,
        labels: Optional[pulumi.Input[dict[str, str]]] = None,
        docker: Optional[pulumi.Input[dict[str, Any]]] = None,
        pinned_digest: Optional[pulumi.Input[str]] = None,
        promoted_from: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param context: build-context directory (absolute path on the machine running pulumi).
        :param repository: repository in the registry, e.g. ``maas/iris``.
        :param tag: tag; must identify the content (e.g. ``md-<digest[:12]>``).
        :param registry: ``host:port``; plain HTTP for loopback addresses.
        :param dockerfile: Dockerfile path relative to the context.
        :param build_args: ``--build-arg`` values.
        :param labels: labels added to the image (``--label``).
        :param docker: the engine that builds and pushes, ``DockerEndpoint.to_props()``; unset,
            the local socket. Not part of the identity: where an image is built changes nothing.
        :param pinned_digest: ``sha256:…`` of a promoted image: verify, never build.
        :param promoted_from: the stack it was promoted from (recorded for the preview card).
        """
        props = {
            "context": context,
            "repository": repository,
            "tag": tag,
            "registry": registry,
            "dockerfile": dockerfile,
            "build_args": build_args or {},
            "labels": labels or {},
            "image_ref": None,
            "repo_digest": None,
            "built": None,
            "docker": docker,
            "pinned_digest": pinned_digest,
            "promoted_from": promoted_from,
        }
        super().__init__(RegistryImageProvider(), resource_name, props, opts)
