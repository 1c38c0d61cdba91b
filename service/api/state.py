"""What the routes share for the app's lifetime: settings, manifest, labels, runners, the pool."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np

from service.api.metrics import Metrics
from service.api.static import content_etag
from service.api.upload import UploadPace
from service.api.upload_slots import UploadSlots
from service.artifacts import ArtifactLayout
from service.autotune import AutoChoice, tune
from service.batching import MicroBatcher
from service.engines.registry import RunnerRegistry, resolve
from service.errors import InvalidSettings, NotReady, ServiceError, client_detail
from service.inference import InferencePool
from service.manifest import Manifest, ModelSpec
from service.settings import EngineSettings, ServerSettings
from service.shared_auto import SharedAutoChoices
from service.tasks.classification import Labels
from service.workers import Siblings

log = logging.getLogger("mobile_vision_api")


@dataclass
class AppState:
    settings: ServerSettings
    layout: ArtifactLayout
    manifest: Manifest
    # the bytes `manifest` was parsed from, which /v1/manifest serves: the manifest this process runs
    # with (edited since, it takes a restart), not the file as it may be now
    manifest_json: bytes
    registry: RunnerRegistry
    pool: InferencePool
    metrics: Metrics
    uploads: UploadSlots
    batcher: MicroBatcher | None = None
    default_settings: EngineSettings = field(default_factory=EngineSettings)  # set from settings in create()
    labels: dict[str, Labels] = field(default_factory=dict)
    ready: bool = False
    not_ready_reason: str = "warming up"
    warm_up_failure: str = ""  # what failed the warm-up, for the log: "<model>: <detail>"
    warmup_ms: dict[str, float] = field(default_factory=dict)
    shutting_down: threading.Event = field(default_factory=threading.Event)
    auto: dict[str, AutoChoice] = field(default_factory=dict)  # preset=auto, per model
    # the other worker processes of `serve --workers N` (None with one process)
    siblings: Siblings | None = field(default_factory=Siblings.from_environment)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _auto_lock: threading.Lock = field(default_factory=threading.Lock)
    # preset=auto's measurement under way, per model: what the requests that wait for it await
    _auto_measuring: dict[str, asyncio.Future[AutoChoice]] = field(default_factory=dict)
    _unreadable_lock_logged: bool = False

    @property
    def accepting(self) -> bool:
        """Ready and not shutting down: what /readyz reports."""
        return self.ready and not self.shutting_down.is_set()

    @cached_property  # once per process, not per upload: the settings never change while it serves
    def upload_pace(self) -> UploadPace:
        return UploadPace(self.settings.receive_timeout_s, self.settings.upload_min_bytes_per_s)

    @cached_property
    def manifest_etag(self) -> str:
        return content_etag(self.manifest_json)

    @classmethod
    def create(cls, settings: ServerSettings, vnni: bool | None = None) -> AppState:
        """`vnni`: whether the CPU has VNNI (None: this one's; see service/engines/int8_file.py)."""
        layout = ArtifactLayout(settings.models_dir)
        manifest, manifest_json = settings.manifest, settings.manifest_json  # read once, by the settings
        registry = RunnerRegistry.for_server(layout, settings, settings.runner_cache_size, vnni)
        _log_held_back_int8_files(registry, manifest)
        pool = InferencePool(settings.inference_cores, settings.max_pending, settings.queue_timeout_s)
        metrics = Metrics()
        pool.pending_changed = metrics.queue_depth_changed
        batcher = None
        if settings.batch_window_ms > 0 or settings.batch_queued:  # a window of 0 ms: queued
            observe = metrics.batch_size.observe
            batcher = MicroBatcher(pool, settings.batch_window_ms, settings.max_batch, observe)
        defaults = settings.default_engine_settings()
        uploads = UploadSlots(settings.max_uploads, pool.retry_after())  # the queue-full answer's wait
        return cls(
            settings, layout, manifest, manifest_json, registry, pool, metrics, uploads, batcher, defaults
        )

    def labels_for(self, spec: ModelSpec) -> Labels:
        with self._lock:
            labels = self.labels.get(spec.name)
            if labels is None and spec.labels is not None:
                try:
                    labels = Labels.load(self.layout.labels(spec.name), spec.labels.background_index)
                except OSError as exc:  # models not built: the service is up, this model is not
                    raise NotReady(
                        f"the labels of {spec.name} cannot be read ({exc.strerror or exc}); build the models"
                    ) from exc
                self.labels[spec.name] = labels
        assert labels is not None
        return labels

    def read_lock(self) -> tuple[dict[str, Any] | None, str | None]:
        """lock.json and None, or None and why it cannot be read (cut short, hand-edited). The service
        serves from the model files alone, so such a lock only takes its figures out of /v1/models; the
        log says so once per process, not once per request."""
        try:
            return self.layout.read_lock(), None
        except ValueError as exc:
            why = self.layout.unreadable_lock(exc)
            if not self._unreadable_lock_logged:
                self._unreadable_lock_logged = True
                log.warning(
                    "%s: /v1/models lists no artifacts until `mobile-vision-api models build` writes it "
                    "again (models folder: %s)",
                    why,
                    self.layout.root,
                )
            return None, why

    def warm_up(self) -> None:
        """Build and run the default runner of each warm model once; ready when all succeeded.
        A failure (a missing or corrupt model) leaves the service up but not ready, with the reason."""
        import time

        defaults = self.default_settings
        step = "start-up"
        try:
            for name in self.settings.warm_models:
                step = name
                spec = self.manifest.get(name)
                resolved = self.resolve(spec, defaults, precision_asked=False)
                start = time.perf_counter()
                runner = self.registry.get(spec, resolved)
                pixels = np.zeros((1, spec.input.height, spec.input.width, 3), dtype=np.uint8)
                self.pool.run_blocking(partial(runner.run, pixels), resolved.threads)
                if spec.labels is not None:
                    self.labels_for(spec)
                self.warmup_ms[name] = round((time.perf_counter() - start) * 1000, 1)
            for name in self.settings.auto_tune_models:
                step = f"{name} (preset=auto)"
                self.auto_choice(self.manifest.get(name))
        except Exception as exc:
            # /readyz and the 503s are often open to anyone: the exception's full text goes to the log
            detail = client_detail(exc)
            failure = f"warm-up of {step} failed ({detail})"
            self.warm_up_failure = f"{step}: {detail}"
            self.not_ready_reason = f"{failure}; the server log has the details"
            cause = "" if isinstance(exc, ServiceError) else f": {exc}"
            log.error("not ready: %s%s (models folder: %s)", failure, cause, self.layout.root)
            if self.siblings is not None:
                self.siblings.mark_failed()
            return
        self.ready = True
        self.not_ready_reason = ""
        if self.siblings is not None:
            self.siblings.mark_ready()
        # "ready: warmed mobilenet_v2 (412.3 ms), blazeface_short (35.0 ms)"; it printed the dict itself
        warmed = ", ".join(f"{name} ({ms} ms)" for name, ms in self.warmup_ms.items())
        log.info("ready: %s", f"warmed {warmed}" if warmed else "no model to warm (MVA_WARM_MODELS is empty)")

    @property
    def shared_auto(self) -> SharedAutoChoices | None:
        """Where the worker processes of `serve --workers N` share preset=auto's measurements."""
        return None if self.siblings is None else SharedAutoChoices(self.siblings.auto_dir)

    def auto_choices(self) -> dict[str, AutoChoice]:
        """preset=auto's choices so far, per model: with several worker processes, also those another
        measured and this one has not used yet, so that /v1/models says the same in every process."""
        shared = self.shared_auto
        return {**(shared.recorded() if shared is not None else {}), **self.auto}

    def auto_choice(self, spec: ModelSpec) -> AutoChoice:
        """preset=auto's settings for `spec`, measured once (blocking: call off the event loop). The
        measurement takes every inference core, so no request's inference runs beside it; with several
        worker processes, one measures (one model at a time) and the others wait for its result."""
        with self._auto_lock:
            choice = self.auto.get(spec.name)
            if choice is None:
                shared = self.shared_auto
                measure = partial(self._measure_auto, spec)
                choice = measure() if shared is None else shared.measured_once(spec.name, measure)
                self.auto[spec.name] = choice
        return choice

    def _measure_auto(self, spec: ModelSpec) -> AutoChoice:
        cores = self.pool.cores
        weights, spinning = self.settings.ort_int8_weights, self.settings.ort_spinning
        choice = self.pool.run_blocking(
            lambda: tune(spec, self.layout, cores, int8_weights=weights, ort_spinning=spinning), cores
        )
        log.info("preset=auto for %s: %s", spec.name, choice.choice.model_dump())
        return choice

    async def measured_auto_choice(self, spec: ModelSpec) -> AutoChoice:
        """`auto_choice` from the event loop: one thread measures, and the requests that arrive meanwhile
        wait for it on the loop. Each used to hold a thread of the loop's default pool, blocked on the
        lock, which the page's files (their first ETag) and shutdown need too. A request that goes away
        leaves the measurement running for the others; one that failed is tried again by the next."""
        measuring = self._auto_measuring.get(spec.name)
        if measuring is None:
            measuring = asyncio.ensure_future(asyncio.to_thread(self.auto_choice, spec))
            self._auto_measuring[spec.name] = measuring
            measuring.add_done_callback(lambda _: self._auto_measuring.pop(spec.name, None))
        return await asyncio.shield(measuring)

    def resolve(self, spec: ModelSpec, settings: EngineSettings, *, precision_asked: bool) -> EngineSettings:
        """`precision_asked`: the request named its precision. One it did not name (MVA_PRECISION, or
        preset=auto's choice for another engine) is a preference across models: where this model or
        engine has no such variant (BlazeFace has no int8, LiteRT runs the tflite's own), the model's
        own runs instead of every such request failing."""
        try:
            resolved = resolve(spec, settings)
        except InvalidSettings as exc:
            if precision_asked or exc.field != "precision":
                raise
            resolved = resolve(spec, settings.model_copy(update={"precision": None}))
        if resolved.threads > self.pool.cores:  # the core budget could not hold them
            raise InvalidSettings(
                f"threads={resolved.threads} is more than the {self.pool.cores} core(s) this server gives "
                "inference (MVA_INFERENCE_CORES)",
                field="threads",
            )
        return resolved


def _log_held_back_int8_files(registry: RunnerRegistry, manifest: Manifest) -> None:
    """Once per process: a models folder built without VNNI and served with it (an image built on
    another node) runs int8.onnx, the slower file; the operator learns why and how to get the other."""
    for spec in manifest.models.values():
        if "int8" in spec.precisions:
            chosen = registry.int8_file(spec.name)
            if chosen.held_back:
                log.warning("%s: onnxruntime runs %s: %s", spec.name, chosen.path.name, chosen.why)
