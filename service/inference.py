"""Where inference runs: a bounded pool of worker threads, never the event loop.

Policy: a request's inference needs `threads` cores (its intra-op thread count). A core budget equal
to the cores given to inference (MVA_INFERENCE_CORES, default all) is shared by the workers, so the
threads of all running inferences never exceed the cores: two 1-thread requests run side by side on
2 cores; a 2-thread request runs alone. At most `max_pending` requests are admitted (running or
waiting); the next one gets 503 with Retry-After at once, and one that waited longer than
`queue_timeout_s` for cores gets 503 rather than running late."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from service.errors import ClientClosedRequest, Overloaded
from service.timing import StageTimer

T = TypeVar("T")
# returns once the request's client has disconnected (service/api/inference.py: client_left)
ClientLeft = Callable[[], Awaitable[None]]

# A request still waiting for a core this long after it reached the pool starts watching its
# connection, so that one whose client left (timed out, retried elsewhere) gives its place up instead
# of holding a core for an answer nobody reads. Not from the start: watching costs a task, and a
# request that gets a core at once has nothing to give up.
WATCH_QUEUED_AFTER_S = 0.02


class Claim:
    """One job's hold on the budget: `holding` once it has its cores; `abandoned` once its client left
    (set under the budget's lock, which wakes the job if it is waiting in the line)."""

    __slots__ = ("abandoned", "holding")

    def __init__(self) -> None:
        self.abandoned = False
        self.holding = False


class CoreBudget:
    """A counting semaphore that takes several permits at once, first come, first served: a waiter
    is never overtaken by a later one. Otherwise a pool thread that gives its cores back and asks
    again at once (its next job) could keep a waiting request out until its queue deadline."""

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self._free = cores
        self._cond = threading.Condition()
        self._line: deque[object] = deque()  # one ticket per waiter, in arrival order

    def acquire(self, n: int, timeout: float, claim: Claim | None = None) -> bool:
        """False when `timeout` passed, or `claim` was abandoned, before the cores were free."""
        n = min(n, self.cores)
        ticket = object()

        def given_up() -> bool:
            return claim is not None and claim.abandoned

        with self._cond:
            self._line.append(ticket)
            try:
                ok = self._cond.wait_for(
                    lambda: given_up() or (self._line[0] is ticket and self._free >= n), timeout=timeout
                )
                if ok and not given_up():
                    self._free -= n
                    return True
                return False
            finally:
                self._line.remove(ticket)
                self._cond.notify_all()  # the next in line may fit now, or the head gave up

    def abandon(self, claim: Claim) -> None:
        with self._cond:
            claim.abandoned = True
            self._cond.notify_all()

    def release(self, n: int) -> None:
        with self._cond:
            self._free += min(n, self.cores)
            self._cond.notify_all()


class InferencePool:
    def __init__(self, cores: int, max_pending: int, queue_timeout_s: float) -> None:
        self.cores = cores
        self.max_pending = max_pending
        self.queue_timeout_s = queue_timeout_s
        self._budget = CoreBudget(cores)
        self._executor = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="inference")
        self.pending = 0  # touched only on the event loop thread
        # told `pending` at each change: the mva_queue_depth gauge (service/api/metrics.py)
        self.pending_changed: Callable[[int], None] | None = None

    def retry_after(self) -> str:
        return str(max(1, round(self.queue_timeout_s / 2)))

    def refuse_when_full(self) -> None:
        """Raises Overloaded when a request would be refused now: also asked before an upload is read, so
        a full server does not take in a whole body only to refuse it."""
        if self.pending >= self.max_pending:
            raise Overloaded(
                f"{self.pending} requests are queued or running (limit {self.max_pending}); retry later",
                headers={"Retry-After": self.retry_after()},
            )

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Count one request against `max_pending` for as long as it is inside; refuse it when full."""
        self.refuse_when_full()
        self._count_pending(1)
        try:
            yield
        finally:
            self._count_pending(-1)

    def _count_pending(self, change: int) -> None:
        self.pending += change
        if self.pending_changed is not None:
            self.pending_changed(self.pending)

    async def run(
        self, fn: Callable[[], T], threads: int, timer: StageTimer, client_left: ClientLeft | None = None
    ) -> T:
        """Admit the request, then run `fn` on `threads` cores of the pool."""
        async with self.admit():
            return await self.execute(fn, threads, timer, client_left)

    async def execute(
        self,
        fn: Callable[[], T],
        threads: int,
        timer: StageTimer,
        client_left: ClientLeft | None = None,
        timeout_s: float | None = None,
    ) -> T:
        """Run `fn` on the pool for a request already admitted (or for work on behalf of several).
        `client_left` returns once the client has gone; a job it ends before it had its cores (still
        queued, or taken by a thread and waiting there behind a wider job) is dropped
        (ClientClosedRequest). `timeout_s`: how long it may wait for its cores (None: `queue_timeout_s`);
        a request that waited in earlier hops has only what is left of its allowance
        (service/api/inference.py, _infer_batched). Its 503 still names the whole allowance."""
        loop = asyncio.get_running_loop()
        enqueued = time.perf_counter()
        allowance = self.queue_timeout_s if timeout_s is None else timeout_s
        claim = Claim()
        job = self._executor.submit(self._work, fn, threads, enqueued, allowance, timer, claim)
        expired = left = False
        watcher: asyncio.Task[None] | None = None

        def expire() -> None:
            # the pool has a thread a core, so with all of them busy a queued job would check its
            # deadline (in _work) only once it is taken: drop it here if no thread has taken it yet
            nonlocal expired
            expired = job.cancel()

        async def watch(gone: ClientLeft) -> None:
            nonlocal left
            await gone()
            left = job.cancel()
            if not left:  # a thread took it: it may still wait there for cores (behind a wider job)
                self._budget.abandon(claim)

        def start_watching() -> None:
            nonlocal watcher
            if client_left is not None and not (claim.holding or job.done()):
                watcher = loop.create_task(watch(client_left))

        deadline = loop.call_later(allowance, expire)
        watching = loop.call_later(WATCH_QUEUED_AFTER_S, start_watching) if client_left else None
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            if not (expired or left):
                raise
            timer.add("queue", (time.perf_counter() - enqueued) * 1000)
            if left:
                raise _client_gone() from None
            raise self.too_late() from None
        finally:
            deadline.cancel()
            if watching is not None:
                watching.cancel()
            if watcher is not None:
                # before the response is sent: uvicorn also answers a pending receive() once it is
                watcher.cancel()

    def _work(
        self,
        fn: Callable[[], T],
        threads: int,
        enqueued: float,
        allowance: float,
        timer: StageTimer,
        claim: Claim,
    ) -> T:
        remaining = allowance - (time.perf_counter() - enqueued)
        if remaining <= 0 or not self._budget.acquire(threads, remaining, claim):
            timer.add("queue", (time.perf_counter() - enqueued) * 1000)
            raise _client_gone() if claim.abandoned else self.too_late()
        claim.holding = True
        timer.add("queue", (time.perf_counter() - enqueued) * 1000)
        try:
            return fn()
        finally:
            self._budget.release(threads)

    def too_late(self) -> Overloaded:
        """The 503 of a request that waited its whole `queue_timeout_s` for cores (batched: over its hops
        before the engine call, service/api/inference.py)."""
        return Overloaded(
            f"waited more than {self.queue_timeout_s:g} s for a free core; retry later",
            headers={"Retry-After": self.retry_after()},
        )

    def run_blocking(self, fn: Callable[[], T], threads: int, timeout_s: float = 3600) -> T:
        """For start-up work (warm-up, preset=auto's measurement): same budget, no admission limit.
        Raises TimeoutError when the cores are not free in time: running without them would exceed the
        budget, and giving back cores never taken would raise it for good."""
        if not self._budget.acquire(threads, timeout=timeout_s):
            raise TimeoutError(f"{threads} core(s) not free within {timeout_s:g} s")
        try:
            return fn()
        finally:
            self._budget.release(threads)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)


def _client_gone() -> ClientClosedRequest:
    return ClientClosedRequest("the client went away while its request waited for a core")
