"""Process wiring: flags → config → manager → gRPC and REST front ends → graceful stop.

Shutdown on SIGTERM or SIGINT:

1. status checks fail at once (REST status answers 503; gRPC status reports UNLOADING), so a
   router or load balancer stops choosing this replica;
2. everything is still served for ``--drain_seconds`` (a second signal cuts this short);
3. both servers stop accepting, in-flight requests finish (up to 30 s);
4. the process exits 0.
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
        self.manager = ModelManager(batching=batching, poll_seconds=options.file_system_poll_wait_seconds)
        self.service = ModelService(self.manager)
        self._config_lock = threading.Lock()
        self._config_text: str | None = None
        self._stop = threading.Event()
        self._signals = 0
        self._config_dir = os.path.dirname(os.path.abspath(options.model_config_file)) if options.model_config_file else None

        self.apply_config(self._initial_config())
        self.manager.start_polling()
        self.grpc = GrpcServer(options.grpc_host, options.port, self.service, self.apply_config,
                               options.grpc_max_threads)
        self.rest = RestServer(options.rest_api_host, options.rest_api_port, self.service) if options.rest_api_port else None

    def _initial_config(self):
        o = self.options
        if o.model_config_file:
            if o.model_base_path:
                # As tensorflow_model_server does: the config file wins. The image's entrypoint
                # always passes --model_base_path, and model images add --model_config_file.
                log.info("server", "--model_config_file given; --model_name/--model_base_path are ignored")
            with open(o.model_config_file, encoding="utf-8") as fh:
                self._config_text = fh.read()
            return load_config_file(o.model_config_file)
        if not o.model_base_path:
            raise ServingError("INVALID_ARGUMENT", "Either --model_base_path or --model_config_file must be set")
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
                log.error("server", f"Reloading the model config file failed: {err}")

    def serve(self) -> int:
        o = self.options
        self.grpc.start()
        log.info("server", f"Running gRPC ModelServer at {o.grpc_host}:{self.grpc.port} ...")
        if self.rest is not None:
            self.rest.start()
            log.info("server", f"Exporting HTTP/REST API at:{o.rest_api_host}:{self.rest.port} ...")
        if o.model_config_file and o.model_config_file_poll_wait_seconds > 0:
            threading.Thread(target=self._watch_config_file, name="config-poll", daemon=True).start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        # Short waits: a signal delivered to another thread only runs its Python handler once
        # the main thread wakes up.
        while not self._stop.wait(0.2):
            pass
        return self._shutdown()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        self._stop.set()

    def _shutdown(self) -> int:
        o = self.options
        self.service.draining = True
        log.info("server", f"Received shutdown signal; status checks now fail, serving for {o.drain_seconds:g}s more")
        deadline = time.monotonic() + max(0.0, o.drain_seconds)
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
        return 0


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
        log.error("server", f"Failed to start the model server: {err}")
        return 1
    code = server.serve()
    # TensorFlow's and gRPC's native threads can stall interpreter teardown; everything worth
    # finishing has finished by now.
    import sys

    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)
