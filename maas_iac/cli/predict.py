"""``maas predict MODEL --stack S [--via rest|grpc|kafka] JSON``: one prediction through a deployed model.

The endpoints come from the stack's outputs (the Automation API, or ``--outputs FILE`` with
what ``pulumi stack output --json`` printed; ``-`` reads it from stdin). JSON is a TF Serving
REST request body (``{"instances": ...}`` or ``{"inputs": ...}``), ``@FILE`` or ``-`` (stdin).

* ``rest``: POST to the router's ``…/v1/models/<model>:predict``;
* ``grpc``: ``PredictionService/Predict`` through the router, the JSON converted with the
  model's signature exactly as the REST API would;
* ``kafka``: the request is produced on ``<stack>.<model>.requests`` with a fresh id as its key,
  and the answer with that key is awaited on the predictions and errors topics with a
  ``read_committed`` consumer (the bridge commits answers transactionally).

The answer's body goes to stdout, one line about who answered to stderr.
Exit 0 answered; 2 the request or the arguments are wrong (the model's error is printed);
3 something is unreachable or no answer came within ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Optional

HELP = "one prediction through a deployed model, over REST, gRPC or Kafka"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model name (metadata.name)")
    parser.add_argument("request", metavar="JSON", help='request body, e.g. \'{"instances": [[1.0]]}\'; @FILE or - for stdin')
    parser.add_argument("--stack", "-s", required=True, help="stack name")
    parser.add_argument("--via", choices=("rest", "grpc", "kafka"), default="rest", help="protocol (default: rest)")
    parser.add_argument("--version", type=int, help="pin a model version")
    parser.add_argument("--label", help="pin a model version label")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer (default 30)")
    parser.add_argument("--outputs", metavar="FILE", help="stack outputs as `pulumi stack output --json` prints them (- for stdin) instead of asking the engine")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: the stack's maas:kafka)")
    parser.add_argument("--cwd", metavar="DIR", help="project directory (default: the current directory)")


def _body(text: str) -> bytes:
    from maas_iac.errors import MaasError

    if text == "-":
        raw = sys.stdin.buffer.read()
    elif text.startswith("@"):
        try:
            raw = Path(text[1:]).read_bytes()
        except OSError as err:
            raise MaasError(f"cannot read the request from {text[1:]}: {err.strerror}") from None
    else:
        raw = text.encode("utf-8")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise MaasError(f"the request is not JSON: {err}") from None
    if not isinstance(doc, dict) or not ({"instances", "inputs"} & set(doc)):
        raise MaasError('the request must be a JSON object with "instances" or "inputs" (TF Serving REST body)')
    return raw


def _outputs(args: argparse.Namespace) -> dict[str, Any]:
    from maas_iac.errors import InfrastructureError, MaasError

    if args.outputs:
        try:
            text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
            return json.loads(text)
        except OSError as err:
            raise MaasError(f"cannot read {args.outputs}: {err.strerror}") from None
        except ValueError as err:
            raise MaasError(f"{args.outputs} is not the JSON of `pulumi stack output --json`: {err}") from None
    from pulumi import automation as auto

    from maas_iac.report.engine import open_stack, project_dir

    stack = open_stack(project_dir(args.cwd, args.stack), args.stack)
    try:
        return {k: v.value for k, v in stack.outputs().items()}
    except auto.CommandError as err:
        text = str(err)
        if "no stack named" in text or "not found" in text:
            raise MaasError(f"stack {args.stack!r} is not deployed (pulumi up --stack {args.stack})") from None
        raise InfrastructureError(f"cannot read the outputs of stack {args.stack!r}: {text.strip().splitlines()[-1]}") from None


def _kafka_config(args: argparse.Namespace) -> dict[str, str]:
    if args.bootstrap_servers:
        return {"bootstrap.servers": args.bootstrap_servers}
    from maas_iac.report.engine import project_dir
    from maas_iac.spec.load import validate_paths
    from maas_iac.errors import SpecError

    project = project_dir(args.cwd, args.stack)
    result = validate_paths([str(project / "stacks" / f"Pulumi.{args.stack}.yaml")])
    if not result.ok:
        raise SpecError(result.problems)
    stack = result.stacks[0]
    if stack.kafka.sasl_password is not None:  # the file holds ciphertext: ask the engine
        from maas_iac.report.engine import engine_config, open_stack

        stack = engine_config(open_stack(project, args.stack), stack)
    from maas_iac.clients import Connections

    return Connections.from_stack(stack).kafka.client_config()


def _headers(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    from maas_dataplane.bridge import messages as H

    headers = [(H.CONTENT_TYPE, H.JSON.encode())]
    if args.version is not None:
        headers.append((H.MODEL_VERSION, str(args.version).encode()))
    if args.label:
        headers.append((H.MODEL_VERSION_LABEL, args.label.encode()))
    return headers


def _answered(body: bytes, line: str) -> int:
    sys.stdout.write(body.decode("utf-8", "replace").rstrip("\n") + "\n")
    print(line, file=sys.stderr)
    return 0


def _refused(code: str, message: str) -> int:
    print(f"maas predict: the model refused the request: {code}: {message}", file=sys.stderr)
    return 2


def _via_rest(endpoint: str, body: bytes, args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    from maas_iac.errors import InfrastructureError

    url = endpoint.rstrip("/")
    if args.version is not None:
        url += f"/versions/{args.version}"
    elif args.label:
        url += f"/labels/{args.label}"
    request = urllib.request.Request(url + ":predict", data=body, method="POST", headers={"Content-Type": "application/json"})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")
        try:
            text = json.loads(text).get("error", text)
        except ValueError:
            pass
        if err.code >= 500:
            raise InfrastructureError(f"{url}:predict answered {err.code}: {text}") from None
        return _refused(f"HTTP {err.code}", text)
    except (urllib.error.URLError, OSError) as err:
        raise InfrastructureError(f"{url}:predict is unreachable: {getattr(err, 'reason', err)}") from None
    return _answered(payload, f"answered over REST by {url} in {(time.monotonic() - start) * 1000:.1f} ms")


def _via_grpc(target: str, model: str, body: bytes, args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from maas_dataplane.bridge.inference import Failure, Predictor, RawRequest
    from maas_iac.errors import InfrastructureError

    deadline = time.monotonic() + args.timeout
    last: list[str] = []

    def wait(seconds: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise InfrastructureError(f"gRPC {target}: no answer within {args.timeout:g}s ({'; '.join(last[-1:]) or 'unreachable'})")
        time.sleep(seconds)

    predictor = Predictor(target, model, max_batch_size=1, timeout_s=args.timeout, log=last.append)
    start = time.monotonic()
    try:
        (outcome,) = predictor.run([RawRequest(body, _headers(args))], wait)
    finally:
        predictor.close()
    if isinstance(outcome, Failure):
        return _refused(outcome.code, outcome.message)
    return _answered(outcome.value, f"answered over gRPC by {target}, {model} version {outcome.version}, "
                                    f"in {(time.monotonic() - start) * 1000:.1f} ms")


def _via_kafka(topics: dict[str, str], kafka: dict[str, str], body: bytes, args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    from maas_dataplane.bridge import messages as H
    from maas_iac.errors import InfrastructureError

    key = uuid.uuid4().hex.encode()
    answers = [topics["predictions"], topics["errors"]]
    consumer = Consumer({**kafka, "group.id": f"maas-predict-{key.decode()}", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "latest"})
    try:
        try:
            partitions = []
            for topic in answers:
                meta = consumer.list_topics(topic, timeout=min(args.timeout, 10)).topics[topic]
                if meta.error is not None:
                    raise InfrastructureError(f"topic {topic}: {meta.error.str()} (is the model's bridge deployed?)")
                for p in meta.partitions:
                    _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                    partitions.append(TopicPartition(topic, p, high))
            consumer.assign(partitions)
            producer = Producer({**kafka, "enable.idempotence": True})
            start = time.monotonic()
            producer.produce(topics["requests"], key=key, value=body, headers=_headers(args))
            if producer.flush(args.timeout) != 0:
                raise InfrastructureError(f"could not produce to {topics['requests']} within {args.timeout:g}s")
        except KafkaException as err:
            raise InfrastructureError(f"Kafka at {kafka['bootstrap.servers']}: {err.args[0].str()}") from None
        deadline = start + args.timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = consumer.poll(min(left, 0.5))
            if msg is None or msg.error() is not None or msg.key() != key:
                continue
            headers = msg.headers() or []
            if msg.topic() == topics["errors"]:
                return _refused(H.header(headers, H.ERROR_CODE) or "UNKNOWN", H.header(headers, H.ERROR_MESSAGE) or "")
            return _answered(msg.value(), (
                f"answered over Kafka (request {key.decode()} on {topics['requests']} "
                f"{H.header(headers, H.REQUEST_OFFSET)}) by {H.header(headers, H.MODEL)} version "
                f"{H.header(headers, H.MODEL_VERSION)} (git {(H.header(headers, H.GIT_SHA) or '?')[:12]}) "
                f"in {(time.monotonic() - start) * 1000:.1f} ms"))
        raise InfrastructureError(f"no answer to request {key.decode()} on {topics['predictions']} within "
                                  f"{args.timeout:g}s (is the model's bridge running?)")
    finally:
        consumer.close()


def run(args: argparse.Namespace) -> int:
    from maas_iac.errors import MaasError

    if args.version is not None and args.label:
        raise MaasError("give --version or --label, not both")
    body = _body(args.request)
    outputs = _outputs(args)
    model: Optional[dict[str, Any]] = outputs.get(args.model)
    if not isinstance(model, dict) or "rest" not in model:
        known = sorted(k for k, v in outputs.items() if isinstance(v, dict) and "rest" in v)
        raise MaasError(f"stack {args.stack!r} has no model {args.model!r} (models: {', '.join(known) or 'none'})")
    if args.via == "rest":
        return _via_rest(model["rest"], body, args)
    if args.via == "grpc":
        return _via_grpc(model["grpc"], args.model, body, args)
    topics = dict(model.get("topics") or {})
    topics.setdefault("requests", f"{args.stack}.{args.model}.requests")
    topics.setdefault("predictions", f"{args.stack}.{args.model}.predictions")
    topics.setdefault("errors", f"{args.stack}.{args.model}.errors")
    return _via_kafka(topics, _kafka_config(args), body, args)
