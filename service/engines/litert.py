"""LiteRT engine on the original tflite file, with three kernel sets:
xnnpack (the SIMD library TF.js's wasm backend uses), builtin (TFLite's optimized kernels, no
delegate) and reference (BUILTIN_REF: scalar C++ kernels, the honest no-SIMD baseline).
An interpreter is not thread-safe: each call borrows one from a small pool."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from service.engines.base import EffectiveSettings, Runner, engine_version
from service.imaging.tensor import quantization_matches, to_float
from service.manifest import InputSpec, Precision
from service.settings import Kernels

_RESOLVERS = {
    "xnnpack": OpResolverType.AUTO,  # AUTO applies the default XNNPACK delegate
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "reference": OpResolverType.BUILTIN_REF,
}


class _Interpreter:
    """One interpreter with its tensor indices and (de)quantization parameters."""

    def __init__(self, path: Path, kernels: Kernels, threads: int) -> None:
        self.interpreter = Interpreter(
            model_path=str(path), num_threads=threads, experimental_op_resolver_type=_RESOLVERS[kernels]
        )
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()


def input_shape_of(path: Path) -> tuple[int, ...]:
    """The input tensor's shape a tflite file declares, e.g. (1, 224, 224, 3): read from the model, with
    no kernels prepared and no tensors allocated."""
    return tuple(int(d) for d in Interpreter(model_path=str(path)).get_input_details()[0]["shape"])


class LiteRTRunner(Runner):
    def __init__(
        self,
        path: Path,
        spec: InputSpec,
        precision: Precision,
        kernels: Kernels,
        threads: int,
        pool_size: int,
    ) -> None:
        self._path, self._kernels, self._spec = path, kernels, spec
        # reference kernels are single-threaded whatever num_threads says
        self._threads = 1 if kernels == "reference" else threads
        self._idle: queue.SimpleQueue[_Interpreter] = queue.SimpleQueue()
        self._created = 0
        self._pool_size = max(1, pool_size)
        self._lock = threading.Lock()
        first = _Interpreter(path, kernels, self._threads)
        self._created = 1
        self._idle.put(first)
        scale, zero_point = first.input["quantization"]
        self._feeds_pixels = first.input["dtype"] == np.uint8 and quantization_matches(
            spec, scale, zero_point
        )
        self.settings = EffectiveSettings(
            engine="litert",
            engine_version=engine_version("litert"),
            precision=precision,
            simd=kernels != "reference",
            threads=self._threads,
            kernels=kernels,
            artifact=f"{path.parent.name}/{path.name}",
        )

    def ops(self) -> list[str]:
        """Operator names in the execution plan ('DELEGATE' where XNNPACK took over)."""
        with self.interpreter() as item:
            return [op["op_name"] for op in item.interpreter._get_ops_details()]

    @contextmanager
    def interpreter(self) -> Iterator[_Interpreter]:
        """One interpreter of the pool, the caller's alone until the block ends (built when every one
        built so far is in use and the pool is not full; else waits for one to come back)."""
        item = self._borrow()
        try:
            yield item
        finally:
            self._idle.put(item)

    def _borrow(self) -> _Interpreter:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._pool_size:
                # counted once built: a build that fails (a damaged file) must not shrink the pool
                # for good, where a caller would wait for an interpreter that never comes back
                built = _Interpreter(self._path, self._kernels, self._threads)
                self._created += 1
                return built
        return self._idle.get()

    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        with self.interpreter() as item:
            tensor = pixels if self._feeds_pixels else to_float(pixels, self._spec)
            item.interpreter.set_tensor(item.input["index"], tensor)
            item.interpreter.invoke()
            return [_dequantize(item.interpreter.get_tensor(o["index"]), o) for o in item.outputs]


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if values.dtype == np.float32:
        return values
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
