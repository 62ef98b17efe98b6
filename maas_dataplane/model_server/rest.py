"""TF Serving's HTTP/REST API on a threaded stdlib HTTP/1.1 server.

Routes (TF Serving's regular expressions, case-insensitive)::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     row or columnar predict
    POST …:classify | …:regress                                   501, not implemented

Errors are ``{ "error": "<message>" }`` with TF Serving's HTTP codes. While the server drains
after SIGTERM, status requests answer 503 so load balancers stop sending new work, and
everything else is still served.

One thread per connection, keep-alive: with the GIL and a small model, this stays within about
a millisecond of an in-process call (see ``benchmarks/serving_latency.py``).
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from google.protobuf import json_format

from . import log
from .errors import ServingError
from .service import ModelService, status_proto
from .tensors import inputs_to_tensors, instances_to_tensors, outputs_json, predictions_json

__all__ = ["RestServer"]

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_V1 = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "maas-model-server"
    sys_version = ""
    server: "_HTTPServer"

    # -- connection bookkeeping for a graceful stop ---------------------------------------
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self, busy=False)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self)

    def handle_one_request(self) -> None:
        if self.server.stopping:
            self.close_connection = True
            return
        super().handle_one_request()
        self.server.track(self, busy=False)

    def parse_request(self) -> bool:
        self.server.track(self, busy=True)
        return super().parse_request()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # one line per request would drown the lifecycle log

    # -- dispatch ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._reply(400, _error_body("Malformed request body"))
            self.close_connection = True
            return
        service = self.server.service
        try:
            if not _V1.fullmatch(path):
                self._reply(404, _error_body(f"Not found: {method} {path}"))
                return
            m = _PREDICT.fullmatch(path) if method == "POST" else None
            if m:
                name, version, label = _model_info(m.group(1), m.group(2), m.group(3))
                verb = m.group(4).lower()
                if verb != "predict":
                    raise ServingError(
                        "UNIMPLEMENTED",
                        f"{verb.capitalize()} is not supported by this model server; use :predict",
                    )
                self._reply(200, self._predict(service, name, version, label, body))
                return
            m = _STATUS.fullmatch(path) if method == "GET" else None
            if m:
                name, version, label = _model_info(m.group(1) or "", m.group(2), m.group(3))
                if m.group(4):
                    self._reply(200, _metadata_json(service, name, version, label))
                    return
                statuses = service.status(name, version, label)
                if service.draining:
                    raise ServingError("UNAVAILABLE", "Model server is shutting down (draining)")
                text = json_format.MessageToJson(
                    status_proto(statuses), always_print_fields_with_no_presence=True, indent=1
                )
                self._reply(200, text.encode("utf-8"))
                return
            raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        except ServingError as err:
            self._reply(err.http_status, _error_body(err.message))
        except Exception as err:  # never let a bug drop the connection without an answer
            log.error("http", f"Internal error serving {method} {path}: {err!r}")
            self._reply(500, _error_body(f"Internal error: {err}"))

    def _predict(self, service: ModelService, name: str, version, label, body: bytes) -> bytes:
        lv = service.manager.resolve(name, version, label)
        if not body:
            raise ServingError("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            pos = getattr(err, "pos", 0)
            msg = getattr(err, "msg", str(err))
            raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {msg} at offset: {pos}") from None
        if not isinstance(doc, dict):
            raise ServingError("INVALID_ARGUMENT", f"JSON Value: {body.decode('utf-8', 'replace')} Is not object")
        signature_name = doc.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {json.dumps(doc)} not formatted correctly. 'signature_name' key must be a string value.",
            )
        sig = lv.signature(signature_name, rest=True)
        dtypes = sig.input_dtypes
        if not dtypes:
            raise ServingError(
                "INVALID_ARGUMENT", f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
            )
        bools = b"true" in body or b"false" in body
        if "instances" in doc:
            if "inputs" in doc:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {json.dumps(doc)} Not formatted correctly expecting only one of "
                    "'inputs' or 'instances' keys to exist ",
                )
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise ServingError(
                    "INVALID_ARGUMENT", f"JSON Value: {json.dumps(doc)} Excepting 'instances' to be an list/array"
                )
            if not instances:
                raise ServingError("INVALID_ARGUMENT", f"JSON Value: {json.dumps(doc)} No values in 'instances' array")
            tensors = instances_to_tensors(instances, dtypes, has_bool_tokens=bools)
            return predictions_json(service.predict(lv, sig, tensors)).encode("utf-8")
        if "inputs" in doc:
            tensors = inputs_to_tensors(doc["inputs"], dtypes, has_bool_tokens=bools)
            return outputs_json(service.predict(lv, sig, tensors)).encode("utf-8")
        raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")

    def _reply(self, code: int, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        )
        if self.close_connection or self.server.stopping:
            head += "Connection: close\r\n"
            self.close_connection = True
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)


def _model_info(name: str, version: str | None, label: str | None):
    name = unquote(name)
    v = None
    if version:
        try:
            v = int(version)
        except ValueError:
            raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {version} to numeric.") from None
    if version and label:
        raise ServingError(
            "INVALID_ARGUMENT", f"Both model version ({version}) and model version label ({label}) cannot be supplied."
        )
    return name, v, unquote(label) if label else None


def _metadata_json(service: ModelService, name: str, version, label) -> bytes:
    if not name:
        raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = service.metadata(name, version, label, ["signature_def"])
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    opts = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True, indent=1)
    spec = json_format.MessageToJson(response.model_spec, **opts)
    sigs = json_format.MessageToJson(sig_map, **opts)
    text = '{\n"model_spec":' + spec + ',\n"metadata": {"signature_def": ' + sigs + "}\n}\n"
    return text.encode("utf-8")


class _HTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, service: ModelService) -> None:
        self.service = service
        self.stopping = False
        self._conns: dict[_Handler, bool] = {}
        self._conns_lock = threading.Condition()
        super().__init__(address, _Handler)

    def track(self, handler: _Handler, busy: bool) -> None:
        with self._conns_lock:
            self._conns[handler] = busy
            if not busy and self.stopping:
                handler.close_connection = True
                _shutdown_read(handler)

    def untrack(self, handler: _Handler) -> None:
        with self._conns_lock:
            self._conns.pop(handler, None)
            self._conns_lock.notify_all()

    def close_idle_and_wait(self, timeout: float) -> bool:
        """Close keep-alive connections between requests; wait for the busy ones to finish."""
        with self._conns_lock:
            self.stopping = True
            for handler, busy in list(self._conns.items()):
                if not busy:
                    _shutdown_read(handler)
            return self._conns_lock.wait_for(lambda: not self._conns, timeout)


def _shutdown_read(handler: _Handler) -> None:
    try:
        handler.connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass


class RestServer:
    def __init__(self, host: str, port: int, service: ModelService) -> None:
        self._server = _HTTPServer((host, port), service)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float) -> bool:
        """Stop accepting, let in-flight requests finish (up to ``grace`` s); True if all did."""
        self._server.shutdown()
        self._server.socket.close()
        return self._server.close_idle_and_wait(grace)
