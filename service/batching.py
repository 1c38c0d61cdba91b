"""Opt-in dynamic micro-batching (MVA_BATCH_WINDOW_MS > 0, onnxruntime only): the first request for a
runner opens a batch; requests for the same runner arriving within the window join it (up to
MVA_MAX_BATCH); the batch then runs as one engine call on the pool and each request gets its own row
of the outputs. The ONNX models have a symbolic batch dimension for this (service/modelbuild/convert.py)
and the model build checks that a batch gives exactly what each image gives alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.engines.base import Runner
from service.inference import InferencePool
from service.timing import StageTimer

# what a request gets back: its outputs, the batch size, the batch's engine time (ms)
BatchResult = tuple[list[np.ndarray], int, float]


@dataclass
class _Batch:
    runner: Runner
    threads: int
    pixels: list[np.ndarray] = field(default_factory=list)
    futures: list[asyncio.Future[BatchResult]] = field(default_factory=list)
    closer: asyncio.TimerHandle | None = None


class MicroBatcher:
    def __init__(
        self, pool: InferencePool, window_ms: float, max_batch: int, observe: Callable[[int], None]
    ) -> None:
        self._pool = pool
        self._observe = observe  # the batch size of every engine call (a metrics histogram)
        self._window_s = window_ms / 1000.0
        self._max_batch = max_batch
        self._open: dict[int, _Batch] = {}  # by id(runner): one open batch per model + settings
        self._running: set[asyncio.Task[None]] = set()

    async def run(
        self, runner: Runner, threads: int, pixels: np.ndarray, timer: StageTimer
    ) -> tuple[list[np.ndarray], int]:
        """This request's outputs and the size of the batch they ran in. Time spent waiting for the
        window and for cores counts as `queue`, the batch's engine call as `inference`."""
        loop = asyncio.get_running_loop()
        batch = self._open.get(id(runner))
        if batch is None:
            batch = _Batch(runner, threads)
            self._open[id(runner)] = batch
            batch.closer = loop.call_later(self._window_s, self._close, batch)
        future: asyncio.Future[BatchResult] = loop.create_future()
        batch.pixels.append(pixels)
        batch.futures.append(future)
        if len(batch.pixels) >= self._max_batch:
            self._close(batch)
        waiting_since = time.perf_counter()
        outputs, size, inference_ms = await future
        timer.add("queue", (time.perf_counter() - waiting_since) * 1000 - inference_ms)
        timer.add("inference", inference_ms)
        return outputs, size

    def _close(self, batch: _Batch) -> None:
        if self._open.get(id(batch.runner)) is not batch:
            return  # already closed (full before its window ended)
        del self._open[id(batch.runner)]
        if batch.closer is not None:
            batch.closer.cancel()
        task = asyncio.ensure_future(self._execute(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, batch: _Batch) -> None:
        stacked = np.concatenate(batch.pixels)

        def job() -> tuple[list[np.ndarray], float]:
            start = time.perf_counter()
            outputs = batch.runner.run(stacked)
            return outputs, (time.perf_counter() - start) * 1000

        try:
            outputs, inference_ms = await self._pool.execute(job, batch.threads, StageTimer())
        except Exception as exc:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        size = len(batch.futures)
        self._observe(size)
        for i, future in enumerate(batch.futures):
            if not future.done():  # a client that went away leaves a cancelled future
                future.set_result(([o[i : i + 1] for o in outputs], size, inference_ms))
