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
from service.errors import ClientClosedRequest
from service.inference import ClientLeft, InferencePool
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
    # members whose client went away once the batch was closed (its rows are fixed then); counted on
    # the event loop, read by the engine job's thread
    left: int = 0

    def abandoned(self) -> bool:
        return self.left == len(self.futures)


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
        self,
        runner: Runner,
        threads: int,
        pixels: np.ndarray,
        timer: StageTimer,
        client_left: ClientLeft | None = None,
    ) -> tuple[list[np.ndarray], int]:
        """This request's outputs and the size of the batch they ran in. Time spent waiting for the
        window and for cores counts as `queue`, the batch's engine call as `inference`. A request whose
        client leaves (`client_left` returns) before its batch has run ends as ClientClosedRequest: its
        row is taken out of a batch still open, and a batch all of whose clients left never runs."""
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
        try:
            outputs, size, inference_ms = await _result(future, client_left)
        except (ClientClosedRequest, asyncio.CancelledError):
            self._leave(batch, future)
            timer.add("queue", (time.perf_counter() - waiting_since) * 1000)
            raise
        timer.add("queue", (time.perf_counter() - waiting_since) * 1000 - inference_ms)
        timer.add("inference", inference_ms)
        return outputs, size

    def _leave(self, batch: _Batch, future: asyncio.Future[BatchResult]) -> None:
        """One member will not read its result: out of its batch while that is open, else counted."""
        if not future.cancel():
            return  # it has its result already: the batch ran
        if self._open.get(id(batch.runner)) is not batch:
            batch.left += 1
            return
        row = batch.futures.index(future)
        del batch.futures[row], batch.pixels[row]
        if not batch.futures:  # nobody left to run it for
            del self._open[id(batch.runner)]
            if batch.closer is not None:
                batch.closer.cancel()

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

        def job() -> tuple[list[np.ndarray], float] | None:
            if batch.abandoned():  # every client left while the batch waited for cores
                return None
            start = time.perf_counter()
            outputs = batch.runner.run(stacked)
            return outputs, (time.perf_counter() - start) * 1000

        try:
            ran = await self._pool.execute(job, batch.threads, StageTimer())
        except Exception as exc:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        if ran is None:
            return
        outputs, inference_ms = ran
        size = len(batch.futures)
        self._observe(size)
        for i, future in enumerate(batch.futures):
            if not future.done():  # a client that went away leaves a cancelled future
                future.set_result(([o[i : i + 1] for o in outputs], size, inference_ms))


async def _result(future: asyncio.Future[BatchResult], client_left: ClientLeft | None) -> BatchResult:
    """`future`'s result; ClientClosedRequest if `client_left` returns first."""
    if client_left is None:
        return await future
    watcher = asyncio.ensure_future(client_left())
    try:
        await asyncio.wait((future, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        # before the response is sent: uvicorn also answers a pending receive() once it is
        watcher.cancel()
    if not future.done():
        raise ClientClosedRequest("the client went away while its request waited in a micro-batch")
    return future.result()
