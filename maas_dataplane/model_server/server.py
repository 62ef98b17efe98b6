"""Process wiring: flags → config → manager → gRPC and REST front ends → graceful stop.

Shutdown on SIGTERM or SIGINT:

1. status checks fail at once (REST status answers 503; gRPC status reports UNLOADING), so a
   router or load balancer stops choosing this replica;
2. everything is still served for ``--drain_seconds`` (a second signal cuts this short);
3. both servers stop accepting, in-flight requests finish (up to 30 s);
4. the process exits 0.

A server that has lost every model it served (all versions unloaded or failed: the model
directories deleted, or a config reload that removes everything) exits 1 once that has
lasted ``--exit_without_models_seconds`` (default 10), so a restart policy restarts it.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from . import log
from .config import config_from_flags, load_config_file, models_from_proto
from .errors import ServingError
from .manager import ModelManager
from .options import ServerOptions, parse_args
from .service import ModelService

__all__ = ["main", "ModelServer"]

FINISH_GRACE_SECONDS = 30.0


class ModelServer:
    def __init__(self, options: ServerOptions) -> None:
        from .batching import BatchingParameters, parse_batching_parameters
        from .grpc_api import GrpcServer
        from .rest import RestServer

        self.options = options
        batching = None
        if options.enable_batching:
            if options.batching_parameters_file:
                with open(options.batching_parameters_file, encoding="utf-8") as fh:
                    batching = parse_batching_parameters(fh.read())
            else:
                batching = BatchingParameters()
            log.info("server", f"Batching enabled: {batching}")
        elif options.batching_parameters_file:
            log.warning("server", "--batching_parameters_file is ignored without --enable_batching")
        self.manager = ModelManager(batching=batching, poll_seconds=options.file_system_poll_wait_seconds,
                                    prefer_tflite=options.prefer_tflite_model)
        prometheus_path = None
        if options.monitoring_config_file:
            from .metrics import load_monitoring_config

            prometheus_path = load_monitoring_config(options.monitoring_config_file)
            if prometheus_path and not options.rest_api_port:
                log.warning("server", "Prometheus metrics need --rest_api_port; not exported")
        self.service = ModelService(self.manager)
        self._config_lock = threading.Lock()
        self._config_text: str | None = None
        self._stop = threading.Event()
        self._signals = 0
        self._exit_code = 0
        self._config_dir = os.path.dirname(os.path.abspath(options.model_config_file)) if options.model_config_file else None

        self.apply_config(self._initial_config())
        self.manager.start_polling()
        if not options.port and not options.grpc_socket_path:
            raise ServingError("INVALID_ARGUMENT", "At least one of server_options.grpc_port or "
                               "server_options.grpc_socket_path must be set.")
        self.grpc = GrpcServer(options.grpc_host, options.port, self.service, self.apply_config,
                               options.grpc_max_threads, socket_path=options.grpc_socket_path,
                               channel_arguments=options.grpc_channel_arguments)
        self.rest = None
        if options.rest_api_port:
            self.rest = RestServer(options.rest_api_host, options.rest_api_port, self.service,
                                   max_body_bytes=options.rest_api_max_body_bytes,
                                   max_inflight_body_bytes=options.rest_api_max_inflight_body_bytes,
                                   prometheus_path=prometheus_path)
            if prometheus_path:
                log.info("server", f"Prometheus metrics at {prometheus_path}")

    def _initial_config(self):
        o = self.options
        if o.model_config_file:
            if o.model_base_path:
                # As tensorflow_model_server does: the config file wins. The image's entrypoint
                # always passes --model_base_path, and model images add --model_config_file.
                log.info("server", "--model_config_file given; --model_name/--model_base_path are ignored")
            try:
                with open(o.model_config_file, encoding="utf-8") as fh:
                    self._config_text = fh.read()
            except OSError as err:
                raise ServingError("NOT_FOUND", f"{o.model_config_file}; {err.strerror}") from None
            return load_config_file(o.model_config_file)
        if not o.model_base_path:
            raise ServingError("INVALID_ARGUMENT", "Both server_options.model_base_path and "
                               "server_options.model_config_file are empty!")
        return config_from_flags(o.model_name, o.model_base_path)

    def apply_config(self, config) -> list[str]:
        models = models_from_proto(config, relative_to=self._config_dir)
        with self._config_lock:
            return self.manager.apply_config(models)

    def _watch_config_file(self) -> None:
        wait = self.options.model_config_file_poll_wait_seconds
        while not self._stop.wait(wait):
            try:
                with open(self.options.model_config_file, encoding="utf-8") as fh:
                    text = fh.read()
                if text == self._config_text:
                    continue
                self._config_text = text
                log.info("server", f"Model config file {self.options.model_config_file} changed; reloading")
                for problem in self.apply_config(load_config_file(self.options.model_config_file)):
                    log.warning("server", problem)
            except (OSError, ServingError) as err:
                log.error("server", f"Failed to read ModelServerConfig file: {getattr(err, 'message', err)}")

    def serve(self) -> int:
        o = self.options
        self.grpc.start()
        if self.grpc.port:
            log.info("server", f"Running gRPC ModelServer at {o.grpc_host}:{self.grpc.port} ...")
        if o.grpc_socket_path:
            log.info("server", f"Running gRPC ModelServer at UNIX socket {o.grpc_socket_path} ...")
        if self.rest is not None:
            self.rest.start()
            log.info("server", f"Exporting HTTP/REST API at:{o.rest_api_host}:{self.rest.port} ...")
        if o.model_config_file and o.model_config_file_poll_wait_seconds > 0:
            threading.Thread(target=self._watch_config_file, name="config-poll", daemon=True).start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        # Short waits: a signal delivered to another thread only runs its Python handler once
        # the main thread wakes up.
        empty_since = None
        grace = o.exit_without_models_seconds
        while not self._stop.wait(0.2):
            if grace <= 0:
                continue
            if self.manager.any_available():
                empty_since = None
            elif self.manager.served_once:
                now = time.monotonic()
                empty_since = empty_since or now
                if now - empty_since >= grace:
                    log.error("server", f"No model has had an available version for {grace:g}s after "
                              "serving; exiting so the server is restarted")
                    self._exit_code = 1
                    break
        return self._shutdown()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        self._stop.set()

    def _shutdown(self) -> int:
        o = self.options
        self.service.draining = True
        drain = o.drain_seconds if not self._exit_code else 0.0
        if not self._exit_code:
            log.info("server", f"Received shutdown signal; status checks now fail, serving for {drain:g}s more")
        deadline = time.monotonic() + max(0.0, drain)
        seen = self._signals
        while time.monotonic() < deadline and self._signals == seen:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        log.info("server", "Drain over; no new requests accepted, finishing in-flight ones")
        stoppers = [threading.Thread(target=self.grpc.stop, args=(FINISH_GRACE_SECONDS,))]
        if self.rest is not None:
            stoppers.append(threading.Thread(target=self.rest.stop, args=(FINISH_GRACE_SECONDS,)))
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        self.manager.stop()
        log.info("server", "Model server stopped")
        return self._exit_code


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    options, ignored = parse_args(argv)
    for flag in ignored:
        log.warning("server", f"--{flag} is accepted for compatibility and has no effect here")
    import tensorflow as tf

    if options.tensorflow_intra_op_parallelism:
        tf.config.threading.set_intra_op_parallelism_threads(options.tensorflow_intra_op_parallelism)
    if options.tensorflow_inter_op_parallelism:
        tf.config.threading.set_inter_op_parallelism_threads(options.tensorflow_inter_op_parallelism)
    try:
        server = ModelServer(options)
    except (ServingError, OSError, ValueError) as err:
        # As tensorflow_model_server: the status on stdout, and exit status 255 (-1).
        text = str(err) if isinstance(err, ServingError) else f"UNKNOWN: {err}"
        print(f"Failed to start server. Error: {text}", flush=True)
        log.error("server", f"Failed to start the model server: {text}")
        return 255
    code = server.serve()
    # TensorFlow's and gRPC's native threads can stall interpreter teardown; everything worth
    # finishing has finished by now.
    import sys

    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)
