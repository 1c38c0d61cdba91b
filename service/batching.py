"""Opt-in dynamic micro-batching (onnxruntime only), in one of two ways:

- a window (MVA_BATCH_WINDOW_MS > 0): the first request for a runner opens a batch; requests for the
  same runner arriving within the window join it (up to MVA_MAX_BATCH); then the batch runs as one
  engine call on the pool;
- queued (MVA_BATCH_QUEUED): no window. The first request's batch goes in line for cores at once, and
  requests arriving while it waits join it; it runs with whoever is in it when its cores are free. A
  request that finds no other in the pool runs unbatched (`gathers`): at 1 client nothing waits and
  nothing is batched; under load a batch is what queued up meanwhile.

Each request gets its own row of the outputs. The ONNX models have a symbolic batch dimension for
this (service/modelbuild/convert.py) and the model build checks that a batch gives exactly what each
image gives alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.engines.base import Runner
from service.errors import ClientClosedRequest, Overloaded
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
    # the rows are fixed: at the window's end (or when full), or, queued, when the engine job has its
    # cores. Before, a member that leaves takes its row out; after, it is counted in `left`
    sealed: bool = False
    left: int = 0
    # when it was opened (time.monotonic); `emptied` is set once every member left before the engine job
    # had its cores: a job in line then gives its place up (as a request whose client left does)
    opened_at: float = field(default_factory=time.monotonic)
    emptied: asyncio.Event = field(default_factory=asyncio.Event)
    # set by the engine job once the pool gave it its cores (under the batcher's lock): its members no
    # longer wait for cores, so none of them runs out of its queue allowance from then on
    has_cores: bool = False

    def abandoned(self) -> bool:
        return self.left == len(self.futures)

    async def everyone_left(self) -> None:
        await self.emptied.wait()


class MicroBatcher:
    def __init__(
        self, pool: InferencePool, window_ms: float, max_batch: int, observe: Callable[[int], None]
    ) -> None:
        """`window_ms` 0: queued batching (no window)."""
        self._pool = pool
        self._observe = observe  # the batch size of every engine call (a metrics histogram)
        self._window_s = window_ms / 1000.0
        self._max_batch = max_batch
        # by id(runner): the batch new requests for a model + settings join; touched on the event loop
        self._open: dict[int, _Batch] = {}
        # a batch's rows and `sealed` flag: queued, the engine job seals its batch on a pool thread
        self._lock = threading.Lock()
        self._running: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> bool:
        return self._window_s == 0

    def gathers(self, threads: int) -> bool:
        """Whether a request for `threads` cores arriving now goes through a batch. Queued, only when the
        requests in the pool (running or waiting), were they as wide, would leave it no free core: else
        its batch would get cores at once, a batch of one, and the batched path's two extra hops cost
        ~0.7 ms at 1 client (README, Levers tried). A window always gathers."""
        return not self.queued or self._pool.pending * threads >= self._pool.cores

    async def run(
        self,
        runner: Runner,
        threads: int,
        pixels: np.ndarray,
        timer: StageTimer,
        client_left: ClientLeft | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[np.ndarray], int]:
        """This request's outputs and the size of the batch they ran in. Time spent waiting for the
        window and for cores counts as `queue`, the batch's engine call as `inference`. A request whose
        client leaves (`client_left` returns) before its batch has run ends as ClientClosedRequest: its
        row is taken out of a batch not yet sealed, and a batch all of whose clients left never runs.
        One still waiting after `timeout_s` (what is left of its queue allowance; None: the pool's
        `queue_timeout_s`) while its batch's engine job does not hold its cores yet leaves the batch the
        same way, as Overloaded; once the job holds them it is no longer waiting, and gets its rows."""
        loop = asyncio.get_running_loop()
        allowance = self._pool.queue_timeout_s if timeout_s is None else timeout_s
        future: asyncio.Future[BatchResult] = loop.create_future()
        with self._lock:
            batch = self._open.get(id(runner))
            # queued: its job took it since the last request, or it has waited for cores so long that a
            # new member would have less than half its own queue timeout left (the batch's deadline
            # counts from its first member)
            opened = batch is None or batch.sealed or self._too_old(batch)
            if opened:
                batch = _Batch(runner, threads)
                self._open[id(runner)] = batch
            assert batch is not None
            batch.pixels.append(pixels)
            batch.futures.append(future)
            full = len(batch.futures) >= self._max_batch
        if opened:
            if self.queued:
                self._start(batch)  # in line for cores from now on, gathering members while it waits
            else:
                batch.closer = loop.call_later(self._window_s, self._close, batch)
        if full:
            self._close(batch)
        waiting_since = time.perf_counter()
        try:
            ran = await _result(future, client_left, allowance)
            if ran is None:  # its allowance ran out: out of the batch, unless the engine runs for it now
                if self._leave(batch, future, unless_running=True):
                    raise self._pool.too_late()
                ran = await _result(future, client_left, None)
            assert ran is not None  # no timeout: its result, or an exception
            outputs, size, inference_ms = ran
        except (ClientClosedRequest, Overloaded, asyncio.CancelledError):
            # also Overloaded from the batch's engine job (it waited too long for cores): it has left then
            self._leave(batch, future)
            timer.add("queue", (time.perf_counter() - waiting_since) * 1000)
            raise
        timer.add("queue", (time.perf_counter() - waiting_since) * 1000 - inference_ms)
        timer.add("inference", inference_ms)
        return outputs, size

    def _too_old(self, batch: _Batch) -> bool:
        return self.queued and time.monotonic() - batch.opened_at > self._pool.queue_timeout_s / 2

    def _leave(
        self, batch: _Batch, future: asyncio.Future[BatchResult], unless_running: bool = False
    ) -> bool:
        """One member will not read its result: out of its batch while the rows are not fixed, else
        counted. Whether it left: not when it has its result already (the batch ran), nor, with
        `unless_running`, when the batch's engine job holds its cores (`has_cores` is read under the lock
        the job sets it under: the member leaves before the job reads the rows, or is in its run)."""
        with self._lock:
            if (unless_running and batch.has_cores) or not future.cancel():
                return False
            if batch.sealed:
                batch.left += 1
                if batch.abandoned():  # a window batch still in line for cores (queued: it holds them)
                    batch.emptied.set()
                return True
            row = batch.futures.index(future)
            del batch.futures[row], batch.pixels[row]
            emptied = not batch.futures
        if emptied:  # nobody left to run it for
            batch.emptied.set()
            self._detach(batch)
            if batch.closer is not None:
                batch.closer.cancel()
        return True

    def _detach(self, batch: _Batch) -> None:
        """No new member joins `batch`."""
        if self._open.get(id(batch.runner)) is batch:
            del self._open[id(batch.runner)]

    def _close(self, batch: _Batch) -> None:
        """The window ended, or the batch is full: no new member joins it."""
        if self._open.get(id(batch.runner)) is not batch:
            return  # already closed (full before its window ended)
        self._detach(batch)
        if self.queued:
            return  # its job is in line already
        if batch.closer is not None:
            batch.closer.cancel()
        with self._lock:
            batch.sealed = True
        self._start(batch)

    def _start(self, batch: _Batch) -> None:
        task = asyncio.ensure_future(self._execute(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, batch: _Batch) -> None:
        def job() -> tuple[list[np.ndarray], float] | None:
            with self._lock:
                batch.sealed = True  # queued: the rows are whoever joined while the job waited
                batch.has_cores = True  # the pool runs this only once it gave the job its cores
                if batch.abandoned():  # every client left while the batch waited for cores
                    return None
                pixels = list(batch.pixels)
            # here, not on the event loop: a batch of 8 fp32 images is ~5 MB to copy
            stacked = np.concatenate(pixels)
            start = time.perf_counter()
            outputs = batch.runner.run(stacked)
            return outputs, (time.perf_counter() - start) * 1000

        try:
            ran = await self._pool.execute(job, batch.threads, StageTimer(), batch.everyone_left)
        except Exception as exc:
            with self._lock:
                batch.sealed = True  # queued: the job never ran (it waited too long for cores)
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._detach(batch)  # queued: the next request opens a new batch, this one's memory goes
        if ran is None:
            return
        outputs, inference_ms = ran
        size = len(batch.futures)
        self._observe(size)
        for i, future in enumerate(batch.futures):
            if not future.done():  # a client that went away leaves a cancelled future
                future.set_result(([o[i : i + 1] for o in outputs], size, inference_ms))


async def _result(
    future: asyncio.Future[BatchResult], client_left: ClientLeft | None, timeout: float | None
) -> BatchResult | None:
    """`future`'s result; None if `timeout` (s) passed first; ClientClosedRequest if `client_left`
    returns first. `future` is left as it is (a cancelled request cancels only its wait), for _leave."""
    awaited: list[asyncio.Future[Any]] = [future]
    watcher = None if client_left is None else asyncio.ensure_future(client_left())
    if watcher is not None:
        awaited.append(watcher)
    try:
        done, _ = await asyncio.wait(awaited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # before the response is sent: uvicorn also answers a pending receive() once it is
        if watcher is not None:
            watcher.cancel()
    if future.done():
        return future.result()
    if not done:
        return None
    raise ClientClosedRequest("the client went away while its request waited in a micro-batch")
