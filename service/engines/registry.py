"""Creates runners per (model, settings) on first use and keeps the most recent ones (LRU, bounded):
a session or interpreter costs tens of MB and a fraction of a second to build."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.engines.base import Runner
from service.engines.int8_file import Int8File, Int8Weights, UnreadableLock, int8_file
from service.errors import InvalidSettings, NotReady
from service.manifest import ModelSpec, Precision
from service.settings import EngineSettings, ServerSettings


def resolve(spec: ModelSpec, settings: EngineSettings) -> EngineSettings:
    """Fill in the model's default precision and the kernels `simd` implies; reject what this model
    cannot run. LiteRT runs the original tflite, so only the model's native precision."""
    native = spec.precisions[0]
    precision = settings.precision or native
    # first: a precision the model has on no engine (blazeface int8 with litert was told to use
    # onnxruntime, which then refused it too)
    if precision not in spec.precisions:
        raise InvalidSettings(
            f"{spec.name} has no {precision} variant (available: {', '.join(spec.precisions)})",
            field="precision",
        )
    if settings.engine == "litert" and precision != native:
        raise InvalidSettings(
            f"engine=litert runs the original tflite of {spec.name}, which is {native}; "
            f"use engine=onnxruntime for precision={precision}",
            field="precision",
        )
    kernels = settings.resolved_kernels()
    # the reference kernels are single-threaded: the request takes one core, and says so
    threads = 1 if kernels == "reference" else settings.threads
    return settings.model_copy(update={"precision": precision, "kernels": kernels, "threads": threads})


def onnx_file(
    layout: ArtifactLayout, model: str, precision: Precision, int8_weights: Int8Weights, vnni: bool
) -> Path:
    """The file onnxruntime runs on a CPU with (`vnni`) or without VNNI: for int8, the variant with
    signed weights where they run on VNNI kernels and the build verified it (`auto`; same results,
    ~1.4x faster here), else int8.onnx (see service.engines.int8_file)."""
    if precision == "int8":
        return int8_file(layout, model, int8_weights, vnni).path
    return layout.onnx(model, precision)


class RunnerRegistry:
    def __init__(
        self,
        layout: ArtifactLayout,
        max_runners: int,
        pool_size: int,
        ort_spinning: bool = False,
        int8_weights: Int8Weights = "auto",
        vnni: bool | None = None,
    ) -> None:
        self._layout = layout
        self._ort_spinning = ort_spinning
        self._int8_weights = int8_weights
        self._vnni = has_vnni() if vnni is None else vnni  # None: this CPU's
        self._max = max_runners
        self._pool_size = pool_size
        self._runners: OrderedDict[tuple[str, EngineSettings], Runner] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[str, EngineSettings], threading.Lock] = {}

    @classmethod
    def for_server(
        cls, layout: ArtifactLayout, settings: ServerSettings, max_runners: int, vnni: bool | None = None
    ) -> RunnerRegistry:
        """Runners built as the server with `settings` builds them (its cores, spinning, int8 file)."""
        return cls(
            layout,
            max_runners,
            settings.inference_cores,
            settings.ort_spinning,
            settings.ort_int8_weights,
            vnni,
        )

    def get(self, spec: ModelSpec, settings: EngineSettings) -> Runner:
        """The runner for resolved `settings` (see `resolve`). Blocks while it is built: call it off
        the event loop."""
        key = (spec.name, settings)
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                self._runners.move_to_end(key)
                return runner
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:  # one build per key; other callers for the same key wait for it
            with self._lock:
                runner = self._runners.get(key)
            if runner is None:
                runner = self._build(spec, settings)
                with self._lock:
                    self._runners[key] = runner
                    self._building.pop(key, None)
                    evicted = self._evict()
                for old in evicted:
                    old.close()
        return runner

    def _evict(self) -> list[Runner]:
        evicted = []
        while len(self._runners) > self._max:
            _, old = self._runners.popitem(last=False)
            evicted.append(old)
        return evicted

    def _build(self, spec: ModelSpec, settings: EngineSettings) -> Runner:
        assert settings.precision is not None
        if settings.engine == "onnxruntime":
            from service.engines.onnx import OnnxRuntimeRunner

            path = onnx_file(self._layout, spec.name, settings.precision, self._int8_weights, self._vnni)
            self._require(path)
            return OnnxRuntimeRunner(
                path, spec.input, settings.precision, settings.threads, spinning=self._ort_spinning
            )
        from service.engines.litert import LiteRTRunner

        path = self._layout.tflite(spec.name)
        self._require(path)
        assert settings.kernels is not None
        pool = max(1, self._pool_size // settings.threads)
        return LiteRTRunner(path, spec.input, settings.precision, settings.kernels, settings.threads, pool)

    def int8_file(self, model: str, lock: Mapping[str, Any] | UnreadableLock | None = None) -> Int8File:
        """The int8 file this registry's onnxruntime runners of `model` load, and why. `lock`:
        lock.json as the caller already read it or failed to, else it is read when needed."""
        return int8_file(self._layout, model, self._int8_weights, self._vnni, lock)

    def _require(self, path: Path) -> None:
        if path.exists():
            return
        # a client reads this (503 not_ready): the file within the models folder, not where that is
        root = self._layout.root
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        raise NotReady(f"model file {shown} is missing: run `mobile-vision-api models build`")

    def cached(self) -> list[tuple[str, Runner]]:
        with self._lock:
            return [(name, runner) for (name, _), runner in self._runners.items()]
