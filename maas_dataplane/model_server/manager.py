"""Models, their versions and labels: discovery, the version policy and the load/unload rules.

Rules (TF Serving's availability-preserving policy, made strict):

* A version directory is a decimal number under the model's base path holding
  ``saved_model.pb`` (or ``.pbtxt``). It is loaded only once its contents (names, sizes and
  modification times of every file) are unchanged across two scans, so a directory still
  being copied is left alone.
* The version policy (``latest {num_versions}``, ``specific {versions}``, ``all {}``) picks the
  versions to serve among the loadable ones. Versions that failed to load are not loadable
  until their files change.
* New versions load before old ones unload, and old ones unload only once at least one wanted
  version is AVAILABLE: a version that fails to load never takes down one that serves. The
  failure shows in the status (state END, its error) and in the log.
* A label moves to its configured version only once that version is AVAILABLE; until then it
  keeps pointing where it pointed.

Request threads read an immutable snapshot (``_views``), replaced whole after each change,
so serving never waits on loading.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from . import gc_pauses, log, metrics
from .config import ModelConfig
from .errors import ServingError, error_code_of
from .servable import LoadedVersion, has_model_files

__all__ = ["ModelManager", "VersionStatus"]

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass
class VersionStatus:
    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


@dataclass(frozen=True)
class _View:
    available: dict[int, LoadedVersion]
    labels: dict[str, int]
    latest: LoadedVersion | None


@dataclass
class _Model:
    config: ModelConfig
    loaded: dict[int, LoadedVersion] = field(default_factory=dict)
    statuses: dict[int, VersionStatus] = field(default_factory=dict)
    fingerprints: dict[int, tuple] = field(default_factory=dict)
    failed: dict[int, tuple] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    noted: set = field(default_factory=set)


def _sid(name: str, version: int) -> str:
    return f"{{name: {name} version: {version}}}"


def _fingerprint(path: str, prefer_tflite: bool = False) -> tuple | None:
    """Every file's (relative path, size, mtime); None when there is no saved_model.pb yet
    (nor a model.tflite, with ``--prefer_tflite_model``)."""
    if not has_model_files(path, prefer_tflite):
        return None
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                return None  # vanished mid-scan: not stable
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def _version_dirs(base_path: str) -> dict[int, str]:
    try:
        names = os.listdir(base_path)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name)):
            out[int(name)] = os.path.join(base_path, name)
    return out


class ModelManager:
    def __init__(self, *, batching=None, poll_seconds: int = 1, prefer_tflite: bool = False) -> None:
        self._batching = batching
        self._prefer_tflite = prefer_tflite
        self._poll_seconds = poll_seconds
        self._models: dict[str, _Model] = {}
        self._views: dict[str, _View] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.served_once = False
        """Some version has been AVAILABLE at some point."""

    # ---------------------------------------------------------------- configuration
    def apply_config(self, models: list[ModelConfig]) -> list[str]:
        """Make ``models`` the served set (absent models unload) and load what it asks for.

        Returns one message per label that could not move yet (its version is not AVAILABLE).
        """
        with self._lock:
            log.info("server_core", "Adding/updating models.")
            wanted = {m.name: m for m in models}
            for name in list(self._models):
                if name not in wanted:
                    self._remove_model(name)
            for cfg in models:
                model = self._models.get(cfg.name)
                if model is None:
                    log.info("server_core", f"(Re-)adding model: {cfg.name}")
                    self._models[cfg.name] = _Model(cfg)
                else:
                    model.config = cfg
            problems = []
            for cfg in models:
                problems += self._sync(self._models[cfg.name], settle=0.2)
            return problems

    def _remove_model(self, name: str) -> None:
        model = self._models.pop(name)
        log.info("server_core", f"Removing model: {name}")
        self._views.pop(name, None)
        self._views = dict(self._views)
        for version in sorted(model.loaded):
            self._unload(model, version, publish=False)

    # ---------------------------------------------------------------- polling
    def start_polling(self) -> None:
        if self._poll_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll_loop, name="fs-poll", daemon=True)
        self._thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.poll_once()

    def poll_once(self) -> None:
        with self._lock:
            for model in list(self._models.values()):
                try:
                    self._sync(model, settle=0.0)
                except Exception as err:  # keep polling whatever one model does
                    log.error("fs_poll", f"Polling model {model.config.name} failed: {err}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for model in self._models.values():
                for lv in model.loaded.values():
                    lv.close()

    # ---------------------------------------------------------------- the rules
    def _stable_dirs(self, model: _Model, settle: float) -> dict[int, str]:
        dirs = _version_dirs(model.config.base_path)
        prints = {v: _fingerprint(p, self._prefer_tflite) for v, p in dirs.items()}
        unsettled = [v for v, fp in prints.items() if fp is not None and model.fingerprints.get(v) != fp]
        if unsettled and settle > 0:
            time.sleep(settle)
            again = {v: _fingerprint(dirs[v], self._prefer_tflite) for v in unsettled}
            stable = {v for v in unsettled if again[v] == prints[v]}
            prints.update(again)
        else:
            stable = set()
        stable |= {v for v, fp in prints.items() if fp is not None and model.fingerprints.get(v) == fp}
        for v, fp in prints.items():
            if fp is None and v not in model.noted and v not in model.loaded:
                model.noted.add(v)
                log.info("fs_poll", f"Ignoring {dirs[v]} of model {model.config.name} for now: no saved_model.pb yet")
        model.fingerprints = {v: fp for v, fp in prints.items() if fp is not None}
        return {v: dirs[v] for v in stable}

    def _sync(self, model: _Model, settle: float) -> list[str]:
        cfg = model.config
        if not os.path.isdir(cfg.base_path) and "missing_base" not in model.noted:
            model.noted.add("missing_base")
            log.warning("fs_poll", f"No versions of servable {cfg.name} found under base path {cfg.base_path}")
        dirs = self._stable_dirs(model, settle)
        candidates = [v for v in dirs if model.failed.get(v) != model.fingerprints.get(v)]
        aspired = cfg.policy.select(candidates)
        changed = False
        for version in aspired:  # newest first
            current = model.loaded.get(version)
            if current is not None and current.path == dirs[version]:
                continue
            if self._load(model, version, dirs[version]):
                changed = True
        if any(v in model.loaded for v in aspired):
            for version in sorted(model.loaded):
                if version not in aspired:
                    self._unload(model, version)
                    changed = True
        # A version whose directory is gone is no longer aspired at all: TF Serving's
        # file-system source drops it, and the manager unloads it.
        for version in sorted(model.loaded):
            if not os.path.isdir(model.loaded[version].path):
                log.warning("fs_poll", f"Version {version} of model {cfg.name} is gone from {cfg.base_path}; unloading it")
                self._unload(model, version)
                changed = True
        problems = self._move_labels(model)
        if changed or problems is not None:
            self._publish(model)
        return problems or []

    def _load(self, model: _Model, version: int, path: str) -> bool:
        name = model.config.name
        sid = _sid(name, version)
        model.statuses[version] = VersionStatus(version, LOADING)
        log.info("loader", f"Approving load for servable version {sid}")
        log.info("loader", f"Loading servable version {sid}")
        log.info("saved_model", f"Reading SavedModel from: {path}")
        started = time.monotonic()
        try:
            lv = LoadedVersion(name, version, path, prefer_tflite=self._prefer_tflite)
            lv.batching = self._batching
        except Exception as err:
            metrics.record_load(path, False, (time.monotonic() - started) * 1e6)
            code = error_code_of(err)
            message = err.message if isinstance(err, ServingError) else (getattr(err, "message", None) or str(err))
            message = " ".join(str(message).split()) or err.__class__.__name__
            model.failed[version] = model.fingerprints.get(version)
            model.statuses[version] = VersionStatus(version, END, code, message)
            log.error("loader", f"Loading servable: {sid} failed: {code}: {message}")
            return False
        metrics.record_load(path, True, (time.monotonic() - started) * 1e6)
        old = model.loaded.get(version)
        model.loaded[version] = lv
        model.failed.pop(version, None)
        model.statuses[version] = VersionStatus(version, AVAILABLE)
        self._publish(model)  # serve the new version as soon as it is ready
        if old is not None:
            old.close()
            gc_pauses.after_unload()
        else:
            gc_pauses.after_load()
        log.info(
            "loader",
            f"Successfully loaded servable version {sid} in {time.monotonic() - started:.2f}s",
        )
        return True

    def _unload(self, model: _Model, version: int, publish: bool = True) -> None:
        sid = _sid(model.config.name, version)
        lv = model.loaded.pop(version)
        model.statuses[version] = VersionStatus(version, UNLOADING)
        log.info("loader", f"Quiescing servable version {sid}")
        if publish:
            self._publish(model)
        log.info("loader", f"Done quiescing servable version {sid}")
        log.info("loader", f"Unloading servable version {sid}")
        lv.close()
        gc_pauses.after_unload()
        model.statuses[version] = VersionStatus(version, END)
        log.info("loader", f"Done unloading servable version {sid}")

    def _move_labels(self, model: _Model) -> list[str] | None:
        """Point labels at their versions once AVAILABLE; None when nothing changed."""
        name = model.config.name
        wanted = model.config.label_map
        labels = {k: v for k, v in model.labels.items() if k in wanted}
        problems = []
        for label, version in wanted.items():
            if version in model.loaded:
                if labels.get(label) != version:
                    log.info("server_core", f"Label {label!r} of model {name} now points to version {version}")
                labels[label] = version
            elif labels.get(label) != version:
                problems.append(
                    f"Request to assign label to version {version} of model {name}, which is not "
                    "currently available for inference."
                )
        if labels == model.labels:
            return problems if problems else None
        model.labels = labels
        return problems

    def _publish(self, model: _Model) -> None:
        available = dict(model.loaded)
        latest = available[max(available)] if available else None
        views = dict(self._views)
        views[model.config.name] = _View(available, dict(model.labels), latest)
        self._views = views
        if latest is not None:
            self.served_once = True

    # ---------------------------------------------------------------- lookups
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The version a request is for, with TF Serving's errors for missing ones."""
        if not name:
            raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        view = self._views.get(name)
        if label:
            if view is None or label not in view.labels:
                raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
            version = view.labels[label]
        if version is None:
            if view is None or view.latest is None:
                raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return view.latest
        lv = view.available.get(version) if view is not None else None
        if lv is None:
            raise ServingError("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
        return lv

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        # No lock: a health check must not wait for a load in progress. Copying a dict is
        # atomic under the GIL, and VersionStatus values are replaced, never mutated.
        if True:
            model = self._models.get(name)
            statuses = dict(model.statuses) if model is not None else {}
            if label:
                view = self._views.get(name)
                if view is None or label not in view.labels:
                    raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
                version = view.labels[label]
            if version is not None:
                st = statuses.get(version)
                if st is None:
                    raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
                return [VersionStatus(**vars(st))]
            if not statuses:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            return [VersionStatus(**vars(statuses[v])) for v in sorted(statuses, reverse=True)]

    def any_available(self) -> bool:
        """Whether some configured model has a version AVAILABLE (no lock: a snapshot read)."""
        return any(view.latest is not None for view in self._views.values())

    def model_names(self) -> list[str]:
        return sorted(self._models)
