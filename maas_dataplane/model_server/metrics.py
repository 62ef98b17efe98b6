"""TF Serving's own metrics, served in Prometheus text with ``--monitoring_config_file``.

The names are TensorFlow's monitoring names (``/tensorflow/serving/request_count``, ...)
rendered as TF Serving's ``prometheus_exporter.cc`` renders them: every character outside
``[a-zA-Z0-9_]`` becomes ``:``, so ``:tensorflow:serving:request_count{model_name="m",
status="OK"} 3``; histograms as ``_bucket{...,le="..."}`` lines (cumulative, the last
``+Inf``), ``_sum`` and ``_count``; one ``# TYPE`` line per metric, metrics sorted by name.

Recorded here, with TF Serving's labels and units (microseconds):

* ``/tensorflow/serving/request_count`` {model_name, status}: every Predict, Classify and
  Regress (gRPC) and every REST request, by canonical status code name;
* ``/tensorflow/serving/request_latency`` {model_name, API, entrypoint}: successful ones'
  wall time, buckets 10·1.8^i (33 of them), as util.cc declares;
* ``/tensorflow/serving/request_example_count_total`` {model}: tf.Examples per Classify,
  Regress and MultiInference;
* ``/tensorflow/cc/saved_model/load_attempt_count`` {model_path, status: success|fail} and
  ``/tensorflow/cc/saved_model/load_latency`` {model_path} (a counter of microseconds), as
  TensorFlow's SavedModel loader counts them.

The monitoring config file is TF Serving's ``MonitoringConfig`` text proto
(``prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }``), parsed with
protobuf's text format against that message's schema, declared here (the pip
``tensorflow-serving-api`` package does not ship it).
"""

from __future__ import annotations

import re
import threading

__all__ = ["REGISTRY", "Registry", "record_request", "record_load", "PROMETHEUS_PATH",
           "load_monitoring_config"]

PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
"""PrometheusExporter::kPrometheusPath: the path when the config names none."""

_LATENCY_BUCKETS = tuple(10.0 * 1.8**i for i in range(33))


def _metric_name(name: str) -> str:
    out = re.sub(r"[^a-zA-Z0-9_]", ":", name)
    return "_" + out if out[:1].isdigit() else out


def _label_name(name: str) -> str:
    out = re.sub(r"[^a-zA-Z0-9]", "_", name)
    return "_" + out if out[:1].isdigit() else out


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _num(value: float) -> str:
    """absl::StrCat of a double: six significant digits, like %g."""
    if value == int(value) and abs(value) < 1e15:
        text = "%g" % value
        return text
    return "%g" % value


class _Metric:
    def __init__(self, name: str, kind: str, labels: tuple[str, ...], buckets: tuple[float, ...] = ()) -> None:
        self.name, self.kind, self.labels, self.buckets = name, kind, labels, buckets
        self.cells: dict[tuple[str, ...], object] = {}


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, *labels: str) -> _Metric:
        return self._metrics.setdefault(name, _Metric(name, "counter", labels))

    def histogram(self, name: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> _Metric:
        return self._metrics.setdefault(name, _Metric(name, "histogram", labels, buckets))

    def add(self, metric: _Metric, values: tuple[str, ...], amount: int = 1) -> None:
        with self._lock:
            metric.cells[values] = metric.cells.get(values, 0) + amount

    def observe(self, metric: _Metric, values: tuple[str, ...], sample: float) -> None:
        with self._lock:
            cell = metric.cells.get(values)
            if cell is None:
                cell = metric.cells[values] = [[0] * (len(metric.buckets) + 1), 0.0]
            counts = cell[0]
            i = 0
            for i, limit in enumerate(metric.buckets):  # noqa: B007 - index kept
                if sample < limit:
                    break
            else:
                i = len(metric.buckets)
            counts[i] += 1
            cell[1] += sample

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._metrics):
                m = self._metrics[name]
                prom = _metric_name(name)
                lines.append(f"# TYPE {prom} {m.kind}")
                for values, cell in m.cells.items():
                    labels = [f'{_label_name(k)}="{_label_value(v)}"' for k, v in zip(m.labels, values)]
                    joined = ",".join(labels)
                    if m.kind == "counter":
                        lines.append(f"{prom}{{{joined}}} {int(cell)}")
                        continue
                    counts, total = cell
                    prefix = f"{prom}_bucket{{{joined}{',' if labels else ''}"
                    running = 0
                    for i, count in enumerate(counts):
                        running += count
                        le = _num(m.buckets[i]) if i < len(m.buckets) else "+Inf"
                        lines.append(f'{prefix}le="{le}"}} {running}')
                    lines.append(f"{prom}_sum{{{joined}}} {_num(total)}")
                    lines.append(f"{prom}_count{{{joined}}} {running}")
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
REQUEST_COUNT = REGISTRY.counter("/tensorflow/serving/request_count", "model_name", "status")
REQUEST_LATENCY = REGISTRY.histogram("/tensorflow/serving/request_latency",
                                     ("model_name", "API", "entrypoint"), _LATENCY_BUCKETS)
EXAMPLE_COUNT_TOTAL = REGISTRY.counter("/tensorflow/serving/request_example_count_total", "model")
LOAD_ATTEMPT_COUNT = REGISTRY.counter("/tensorflow/cc/saved_model/load_attempt_count", "model_path", "status")
LOAD_LATENCY = REGISTRY.counter("/tensorflow/cc/saved_model/load_latency", "model_path")


def record_request(model_name: str, status: str, api: str, entrypoint: str, micros: float) -> None:
    """One request's count (any status) and, when it succeeded, its latency."""
    REGISTRY.add(REQUEST_COUNT, (model_name, status))
    if status == "OK":
        REGISTRY.observe(REQUEST_LATENCY, (model_name, api, entrypoint), micros)


def record_examples(model_name: str, count: int) -> None:
    REGISTRY.add(EXAMPLE_COUNT_TOTAL, (model_name,), count)


def record_load(model_path: str, ok: bool, micros: float) -> None:
    REGISTRY.add(LOAD_ATTEMPT_COUNT, (model_path, "success" if ok else "fail"))
    if ok:
        REGISTRY.add(LOAD_LATENCY, (model_path,), int(micros))


def _monitoring_config_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    fdp = descriptor_pb2.FileDescriptorProto(name="tensorflow_serving/config/monitoring_config.proto",
                                             package="tensorflow.serving", syntax="proto3")
    prom = fdp.message_type.add(name="PrometheusConfig")
    F = descriptor_pb2.FieldDescriptorProto
    prom.field.add(name="enable", number=1, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    prom.field.add(name="path", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    mon = fdp.message_type.add(name="MonitoringConfig")
    mon.field.add(name="prometheus_config", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                  type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


def load_monitoring_config(path: str) -> str | None:
    """The Prometheus path a MonitoringConfig file enables, or None when it enables none.

    Raises ServingError with TF Serving's ``Invalid protobuf file: '<path>'`` when the file
    does not parse (after logging protobuf's own parse error, as TF Serving's log shows it).
    """
    from google.protobuf import text_format

    from . import log
    from .errors import ServingError

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise ServingError("NOT_FOUND", f"{path}; {err.strerror}") from None
    config = _monitoring_config_class()()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        log.error("text_format", f"Error parsing text-format tensorflow.serving.MonitoringConfig: {err}")
        raise ServingError("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'") from None
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or PROMETHEUS_PATH
