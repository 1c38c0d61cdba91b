"""The inference pool: the threads of running inferences never exceed the cores, and overload is
refused instead of queued without bound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from service.errors import Overloaded
from service.inference import CoreBudget, InferencePool
from service.timing import StageTimer


def test_core_budget_is_never_exceeded() -> None:
    pool = InferencePool(cores=2, max_pending=100, queue_timeout_s=30)
    in_use, peak, lock = [0], [0], threading.Lock()

    def job(threads: int) -> Callable[[], None]:
        def run() -> None:
            with lock:
                in_use[0] += threads
                peak[0] = max(peak[0], in_use[0])
            time.sleep(0.01)
            with lock:
                in_use[0] -= threads

        return run

    async def main() -> None:
        await asyncio.gather(*[pool.run(job(1 + i % 2), 1 + i % 2, StageTimer()) for i in range(20)])

    asyncio.run(main())
    pool.shutdown()
    assert peak[0] == 2


def test_admission_limit_raises_overloaded_with_retry_after() -> None:
    pool = InferencePool(cores=1, max_pending=1, queue_timeout_s=5)
    release = threading.Event()

    async def main() -> None:
        first = asyncio.ensure_future(pool.run(release.wait, 1, StageTimer()))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as info:
            await pool.run(lambda: None, 1, StageTimer())
        assert "Retry-After" in info.value.headers
        release.set()
        await first

    asyncio.run(main())
    pool.shutdown()


def test_queue_time_is_recorded() -> None:
    budget = CoreBudget(1)
    assert budget.acquire(1, timeout=0.1)
    assert not budget.acquire(1, timeout=0.01)
    budget.release(1)
    pool = InferencePool(cores=1, max_pending=4, queue_timeout_s=5)
    timer = StageTimer()
    asyncio.run(pool.run(lambda: None, 1, timer))
    pool.shutdown()
    assert "queue" in timer.ms


def test_a_job_no_thread_has_taken_is_refused_at_the_queue_deadline() -> None:
    """The pool has a thread a core: with all of them busy for longer than the queue timeout, a job
    waiting behind them gets 503 at the deadline, and never runs."""
    pool = InferencePool(cores=1, max_pending=4, queue_timeout_s=0.2)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> float:
        busy = asyncio.ensure_future(pool.run(lambda: release.wait(10), 1, StageTimer()))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        timer = StageTimer()
        with pytest.raises(Overloaded, match=r"waited more than 0\.2 s"):
            await pool.run(lambda: ran.append("late"), 1, timer)
        waited = time.perf_counter() - started
        assert timer.ms["queue"] >= 200
        release.set()
        await busy
        return waited

    waited = asyncio.run(main())
    pool.shutdown()
    assert waited < 2.0 and ran == []
