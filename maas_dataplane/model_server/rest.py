"""TF Serving's HTTP/REST API on a threaded stdlib HTTP/1.1 server.

Routes (TF Serving's regular expressions, case-insensitive)::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     row or columnar predict
    POST …:classify | …:regress     {"signature_name", "context", "examples"} -> {"results": …}
    GET  <prometheus path>                                        metrics (--monitoring_config_file)

Errors are ``{ "error": "<message>" }`` with TF Serving's HTTP codes. While the server drains
after SIGTERM, status requests answer 503 so load balancers stop sending new work, and
everything else is still served.

Limits on what a client sends (TF Serving's REST server sets none; these keep the process's
memory bounded whatever arrives):

* a body may be at most ``--rest_api_max_body_bytes`` (default 64 MiB). A larger
  ``Content-Length`` is refused with 413 before a byte of the body is read, and the
  connection closed; a chunked body is refused as soon as it grows past the limit;
* the bodies being read at once may hold at most ``--rest_api_max_inflight_body_bytes``
  (default 256 MiB) between them; a request that does not fit is refused with 503 (retry)
  before its body is read;
* JSON may nest at most :data:`MAX_JSON_DEPTH` levels (a tensor has at most 254
  dimensions); deeper documents are a 400 ``JSON Parse error``, never a crash.

One thread per connection, keep-alive: with the GIL and a small model, this stays within about
a millisecond of an in-process call (see ``benchmarks/serving_latency.py``).
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from google.protobuf import json_format

from . import log, metrics
from .errors import ServingError, error_code_of
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

MAX_JSON_DEPTH = 300
"""Deepest JSON nesting accepted: a tensor's 254 dimensions plus the request's own objects."""
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_INFLIGHT_BODY_BYTES = 256 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


class _Busy(Exception):
    pass


class _Budget:
    """Bytes of request bodies held by all connections together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


# RapidJSON's GetParseError_En texts (TF Serving parses with RapidJSON and reports
# "JSON Parse error: <text> at offset: <byte offset>"), for what Python's decoder says.
_RAPIDJSON = {
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Extra data": "The document root must not be followed by other values.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
}


def _innermost(text: str, pos: int) -> str:
    """``{`` or ``[``: the container open at ``pos`` (strings skipped)."""
    stack, in_string, escaped = [], False, False
    for c in text[:pos]:
        if in_string:
            escaped, in_string = (False, True) if escaped else (c == "\\", c != '"')
        elif c == '"':
            in_string = True
        elif c in "[{":
            stack.append(c)
        elif c in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _rapidjson_error(err: json.JSONDecodeError) -> str:
    """``err`` in RapidJSON's words, at RapidJSON's byte offset."""
    text, pos = err.doc, err.pos
    message = next((v for k, v in _RAPIDJSON.items() if err.msg.startswith(k)), None)
    if message == "Missing a closing quotation mark in string.":
        pos = len(text)  # RapidJSON reads to the end looking for the quote
    elif message == "Incorrect hex digit after \\u escape in string.":
        pos -= 1  # RapidJSON points at the escape's backslash, Python at its u
    elif err.msg.startswith("Expecting ',' delimiter"):
        message = ("Missing a comma or '}' after an object member." if _innermost(text, pos) == "{"
                   else "Missing a comma or ']' after an array element.")
    elif message is None:
        message = "The document is empty." if not text.strip() else "Invalid value."
    return f"JSON Parse error: {message} at offset: {len(text[:pos].encode('utf-8', 'surrogatepass'))}"


def parse_json(body: bytes):
    """json.loads with TF Serving's parse-error texts (RapidJSON's) and a nesting limit."""
    if not body:
        raise ServingError("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as err:
        raise ServingError("INVALID_ARGUMENT", _rapidjson_error(err)) from None
    except UnicodeDecodeError as err:
        raise ServingError("INVALID_ARGUMENT",
                           f"JSON Parse error: Invalid encoding in string. at offset: {err.start}") from None
    except RecursionError:
        raise ServingError("INVALID_ARGUMENT",
                           f"JSON Parse error: Nesting deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:  # e.g. an integer literal with more digits than Python converts
        raise ServingError("INVALID_ARGUMENT",
                           f"JSON Parse error: Number too big to be stored in double ({err})") from None
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth_exceeds(doc, MAX_JSON_DEPTH):
        raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: Nesting deeper than {MAX_JSON_DEPTH} levels")
    return doc


def _depth_exceeds(doc, limit: int) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (list, dict)))
        elif isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (list, dict)))
    return False


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
        """The body, within the size limits; the bytes it holds are taken from the budget
        (``self._held``) and given back once the request is answered."""
        limit = self.server.max_body_bytes
        budget = self.server.budget
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    for _ in range(100):  # trailers
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise _BodyTooLarge(total)
                if not budget.take(size):
                    raise _Busy()
                self._held += size
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ValueError("truncated chunk")
                chunks.append(chunk)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _BodyTooLarge(length)
        if not length:
            return b""
        if not budget.take(length):
            raise _Busy()
        self._held += length
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError("truncated body")
        return body

    def _dispatch(self, method: str) -> None:
        self._held = 0
        try:
            self._serve(method)
        finally:
            if self._held:
                self.server.budget.give(self._held)
                self._held = 0

    def _serve(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = self._read_body()
        except _BodyTooLarge as err:
            self.close_connection = True
            self._reply(413, _error_body(
                f"Request body of {err.args[0]} bytes exceeds the limit of {self.server.max_body_bytes} "
                "bytes (--rest_api_max_body_bytes)"))
            self._linger()
            return
        except _Busy:
            self.close_connection = True
            self._reply(503, _error_body("Too many request bodies in flight; retry later"))
            self._linger()
            return
        except (ValueError, OSError):
            self.close_connection = True
            self._reply(400, _error_body("Malformed request body"))
            return
        service = self.server.service
        prometheus = self.server.prometheus_path
        if prometheus and method == "GET" and path.startswith(prometheus):
            self._metrics(path, prometheus)
            return
        start = time.perf_counter()
        model_name, api, status = "", "", "OK"
        try:
            if not _V1.fullmatch(path):
                self._reply(404, _error_body(f"Not found: {method} {path}"))
                return
            m = _PREDICT.fullmatch(path) if method == "POST" else None
            if m:
                name, version, label = _model_info(m.group(1), m.group(2), m.group(3))
                model_name, api = name, m.group(4).lower()
                if api == "predict":
                    self._reply(200, self._predict(service, name, version, label, body))
                else:
                    self._reply(200, self._classify_regress(service, api, name, version, label, body))
                return
            m = _STATUS.fullmatch(path) if method == "GET" else None
            if m:
                name, version, label = _model_info(m.group(1) or "", m.group(2), m.group(3))
                model_name = name
                if m.group(4):
                    api = "metadata"
                    self._reply(200, _metadata_json(service, name, version, label))
                    return
                api = "status"
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
            status = err.code
            self._reply(err.http_status, _error_body(err.message))
        except (RecursionError, MemoryError) as err:
            status = "RESOURCE_EXHAUSTED" if isinstance(err, MemoryError) else "INVALID_ARGUMENT"
            self._reply(400 if status == "INVALID_ARGUMENT" else 429,
                        _error_body("Request too large or too deeply nested to process"))
        except Exception as err:  # never let a bug drop the connection without an answer
            status = error_code_of(err)
            log.error("http", f"Internal error serving {method} {path}: {err!r}")
            self._reply(500, _error_body(f"Internal error: {err}"))
        finally:
            metrics.record_request(model_name, status, api, "REST", (time.perf_counter() - start) * 1e6)

    def _linger(self) -> None:
        """After refusing a body unread: stop writing, then read and drop what the client
        is still sending for a moment, so closing does not reset the connection before the
        client has read the answer. Nothing read is kept."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass

    def _metrics(self, path: str, prometheus: str) -> None:
        if path != prometheus:
            code, text = 400, f"Unexpected path: {path}. Should be {prometheus}"
        else:
            code, text = 200, metrics.REGISTRY.render()
        self._reply(code, text.encode("utf-8"), content_type="text/plain")

    def _classify_regress(self, service: ModelService, api: str, name: str, version, label, body: bytes) -> bytes:
        from .inference import classification_json, input_from_json, regression_json

        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise ServingError("INVALID_ARGUMENT", f"JSON Value: {_debug(doc)} Is not object")
        signature_name, inp = input_from_json(doc)
        if api == "classify":
            return classification_json(service.classify(name, version, label, signature_name, inp).result).encode()
        return regression_json(service.regress(name, version, label, signature_name, inp).result).encode()

    def _predict(self, service: ModelService, name: str, version, label, body: bytes) -> bytes:
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise ServingError("INVALID_ARGUMENT", f"JSON Value: {_debug(doc)} Is not object")
        signature_name = doc.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {json.dumps(doc)} not formatted correctly. 'signature_name' key must be a string value.",
            )
        lv = service.manager.resolve(name, version, label)
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

    def _reply(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        )
        if self.close_connection or self.server.stopping:
            head += "Connection: close\r\n"
            self.close_connection = True
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)


def _debug(doc) -> str:
    try:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return "<value>"


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

    def __init__(self, address, service: ModelService, *, max_body_bytes: int, max_inflight_body_bytes: int,
                 prometheus_path: str | None) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.budget = _Budget(max_inflight_body_bytes)
        self.prometheus_path = prometheus_path
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
    def __init__(self, host: str, port: int, service: ModelService, *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_inflight_body_bytes: int = DEFAULT_MAX_INFLIGHT_BODY_BYTES,
                 prometheus_path: str | None = None) -> None:
        self._server = _HTTPServer((host, port), service, max_body_bytes=max_body_bytes,
                                   max_inflight_body_bytes=max(max_inflight_body_bytes, max_body_bytes),
                                   prometheus_path=prometheus_path)
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
