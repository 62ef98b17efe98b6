"""``maas promote MODEL --from SRC --to DST``: run on DST exactly the image SRC serves.

Reads the image SRC's replicas run for MODEL from SRC's outputs and state (its digest, tag,
commit, content digest, versions), checks that SRC's registry still serves that digest, copies
it by digest to DST's registry when that is another registry (manifest bytes unchanged, only
the blobs DST lacks; DST's login from its decrypted stack config), and writes the pin into DST's
stack config as ``maas:promoted.<MODEL>`` (a plain value). DST's next ``pulumi up`` deploys that
digest without building, and keeps it while the spec's ref moves, until the model is promoted
again or unpinned: ``maas promote MODEL --unpin --to DST``.

Exit codes: 0 promoted (or unpinned); 2 user error (unknown stack, MODEL not deployed on SRC,
SRC's registry no longer has the digest, wrong arguments); 3 infrastructure error (a registry
or the engine unreachable or refusing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

HELP = "pin the image one stack serves for a model into another stack (copied by digest, never rebuilt)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``MODEL``, ``--from``, ``--to``, ``--unpin``, ``--cwd``."""
    parser.add_argument("model", metavar="MODEL", help="model name (metadata.name of its spec)")
    parser.add_argument("--from", dest="source", metavar="STACK", help="the stack whose image is promoted")
    parser.add_argument("--to", dest="target", metavar="STACK", required=True, help="the stack that gets the pin")
    parser.add_argument("--unpin", action="store_true",
                        help="remove MODEL's pin from --to: its next up builds from the spec's ref again")
    parser.add_argument("--cwd", metavar="DIR", help="project directory (default: the current directory)")


def run(args: argparse.Namespace) -> int:
    """Promote or unpin; see the module docstring for the exit codes."""
    from maas_iac.errors import MaasError
    from maas_iac.promotion import current_pins, write_pins
    from maas_iac.report.engine import project_dir

    if args.unpin == bool(args.source):
        raise MaasError("give --from SRC to promote, or --unpin to remove a pin (not both)")
    if args.source == args.target:
        raise MaasError(f"--from and --to are both {args.target}; promote between two stacks")
    project = project_dir(args.cwd, args.target)
    key = f"maas:promoted.{args.model}"
    if args.unpin:
        target = _open(project, args.target)
        pins = _engine(target, project, lambda: current_pins(target))
        if args.model not in pins:
            print(f"{args.model} is not pinned on {args.target}: nothing to do")
            return 0
        was = pins.pop(args.model)
        _engine(target, project, lambda: write_pins(target, pins))
        print(f"unpinned {args.model} on {args.target} (was {was.get('image')} from {was.get('fromStack')}): "
              f"removed {key} from stacks/Pulumi.{args.target}.yaml")
        print(f"next: pulumi up --stack {args.target} (builds {args.model} from its spec's ref again)")
        return 0
    return _promote(args, project, key)


def _promote(args: argparse.Namespace, project: Path, key: str) -> int:
    from maas_iac.clients import Connections, registry, registry_copy
    from maas_iac.clients.endpoints import RegistryEndpoint
    from maas_iac.errors import PromotionError
    from maas_iac.promotion import current_pins, source_image, write_pins
    from maas_iac.report.engine import engine_config, project_dir
    from maas_iac.report.render import human_bytes
    from maas_iac.spec import load_stack_config

    project_dir(str(project), args.source)
    configs = {name: load_stack_config(project / "stacks" / f"Pulumi.{name}.yaml") for name in (args.source, args.target)}
    source, target = _open(project, args.source), _open(project, args.target)
    outputs = _engine(source, project, lambda: {k: v.value for k, v in source.outputs().items()})
    deployment = _engine(source, project, lambda: source.export_stack().deployment or {})
    found = source_image(args.source, args.model, outputs, deployment)
    pin = found.promotion
    src = Connections.from_stack(_engine(source, project, lambda: engine_config(source, configs[args.source]))).registry
    if src.address != found.registry:
        src = RegistryEndpoint(address=found.registry)  # the stack moved registries since; ask the one it ran
    if registry.manifest_digest(src, found.repository, pin.image) is None:
        raise PromotionError(f"registry {found.registry} no longer has {found.repository}@{pin.image}, which {args.source} "
                             f"runs for {args.model}; deploy it there again (pulumi up --stack {args.source}), then promote")
    dst = Connections.from_stack(_engine(target, project, lambda: engine_config(target, configs[args.target]))).registry
    copied = registry_copy.copy_image(src, dst, found.repository, pin.image, pin.tag)
    pins = _engine(target, project, lambda: current_pins(target))
    pins[args.model] = pin.to_config()
    _engine(target, project, lambda: write_pins(target, pins))

    print(f"promoted {args.model} from {args.source} at {pin.image}")
    print(f"  source:  {found.registry}/{found.repository}:{pin.tag} (commit {pin.git_sha[:12]}, "
          f"digest {pin.digest[:12]}, versions {', '.join(map(str, pin.versions))})")
    if copied.copied:
        print(f"  copied:  to {dst.address}: {copied.blobs_copied} blobs, {human_bytes(copied.bytes_copied)} "
              f"({copied.blobs_present} already there)")
    else:
        print(f"  copied:  nothing, {dst.address} is the source's registry: {found.repository}:{pin.tag} points at it")
    print(f"  wrote:   {key} in stacks/Pulumi.{args.target}.yaml")
    print(f"next: pulumi up --stack {args.target} (deploys {pin.image} without building)")
    sys.stdout.flush()
    return 0


def _open(project: Path, stack: str) -> Any:
    """The stack's Automation API handle. Two stacks meet in one run, so the environment's
    passphrase is the non-local one's: the local stack always gets its well-known passphrase,
    which its ``encryptionsalt`` was made with (:mod:`maas_iac.stack_secrets`). Two non-local
    stacks must share the environment's passphrase or name their own secrets providers."""
    from maas_iac.report.engine import open_stack
    from maas_iac.stack_secrets import LOCAL_PASSPHRASE, LOCAL_STACK

    return open_stack(project, stack, {"PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE} if stack == LOCAL_STACK else None)


def _engine(handle: Any, project: Path, call: Callable[[], T]) -> T:
    """``call()``, with the Automation API's failures as maas-iac errors: a stack that does not
    exist is a user error (exit 2), anything else the engine's failure (exit 3)."""
    from pulumi import automation as auto

    from maas_iac.report.engine import engine_failure
    from maas_iac.spec import load_stack_config

    try:
        return call()
    except auto.CommandError as exc:
        config = load_stack_config(project / "stacks" / f"Pulumi.{handle.name}.yaml")
        raise engine_failure(exc, [], config, handle, services=()) from None
