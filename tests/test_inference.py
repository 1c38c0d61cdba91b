"""The inference pool: the threads of running inferences never exceed the cores, and overload is
refused instead of queued without bound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from service.errors import ClientClosedRequest, Overloaded
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


def test_start_up_work_that_cannot_get_its_cores_does_not_run_nor_raise_the_budget() -> None:
    """run_blocking ran `fn` even when its wait for cores timed out, then gave back cores it never had:
    the budget grew by them for good."""
    pool = InferencePool(cores=1, max_pending=4, queue_timeout_s=5)
    ran: list[int] = []
    assert pool._budget.acquire(1, timeout=0.1)  # a request holds the only core
    with pytest.raises(TimeoutError):
        pool.run_blocking(lambda: ran.append(1), 1, timeout_s=0.05)
    assert ran == []
    assert not pool._budget.acquire(1, timeout=0.01)  # still one core, still held
    pool._budget.release(1)
    assert pool.run_blocking(lambda: 7, 1) == 7
    pool.shutdown()


def test_a_job_no_thread_has_taken_is_refused_at_the_queue_deadline() -> None:
    """The pool has a thread a core: with all of them busy for longer than the queue timeout, a job
    waiting behind them gets 503 at the deadline, and never runs."""
    pool = InferencePool(cores=1, max_pending=4, queue_timeout_s=0.2)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        busy = asyncio.ensure_future(pool.run(lambda: release.wait(10), 1, StageTimer()))
        await asyncio.sleep(0.05)
        timer = StageTimer()
        with pytest.raises(Overloaded, match=r"waited more than 0\.2 s"):
            await pool.run(lambda: ran.append("late"), 1, timer)
        assert timer.ms["queue"] >= 200
        release.set()
        # the busy job ends by this release, after the refusal: the job was refused at its deadline,
        # not once the busy one timed out (10 s) and the thread took the job
        assert await busy is True

    asyncio.run(main())
    pool.shutdown()
    assert ran == []


def _wait_until_waiting(budget: CoreBudget, count: int) -> None:
    """Until `count` threads wait in the budget's line (a fixed sleep is no synchronization on a busy
    host: the thread may not have reached acquire() yet)."""
    deadline = time.monotonic() + 10
    while len(budget._line) < count:
        assert time.monotonic() < deadline, "the thread never started waiting"
        time.sleep(0.005)


def test_a_waiting_thread_is_not_overtaken_by_one_that_releases_and_takes_again() -> None:
    """First come, first served: a pool thread that gives its cores back and at once asks for them
    again (its next job) waits behind a thread already waiting. Without the order one request could
    wait until its queue deadline (503) while later ones ran (a 2-thread load test here: 1 in ~1000)."""
    budget = CoreBudget(2)
    assert budget.acquire(2, timeout=1)
    waiter_got: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_got.append(budget.acquire(2, timeout=5)))
    waiter.start()
    _wait_until_waiting(budget, 1)
    budget.release(2)
    # the releasing thread's next job: it must not take the cores the waiter was waiting for
    assert not budget.acquire(2, timeout=0.5)
    waiter.join(5)
    assert waiter_got == [True]
    budget.release(2)
    assert budget.acquire(2, timeout=1)  # the budget is whole again


def test_a_waiter_that_times_out_does_not_block_the_ones_behind_it() -> None:
    budget = CoreBudget(2)
    assert budget.acquire(1, timeout=1)
    head: list[bool] = []
    behind: list[bool] = []
    first = threading.Thread(target=lambda: head.append(budget.acquire(2, timeout=0.2)))
    first.start()
    _wait_until_waiting(budget, 1)  # the 2-core request waits at the head of the line
    second = threading.Thread(target=lambda: behind.append(budget.acquire(1, timeout=5)))
    second.start()
    first.join(5)
    second.join(5)
    assert head == [False] and behind == [True]  # the head gave up; the one behind got the free core


# where a job waits for its cores: in the executor's queue (no thread has taken it), or on a pool
# thread, behind a 2-thread inference (the idle thread took it, and it waits there for a core)
WAITING_PLACES = pytest.mark.parametrize(("cores", "first_threads"), [(1, 1), (2, 2)])


@WAITING_PLACES
def test_a_job_whose_client_left_before_it_had_its_cores_is_dropped_and_a_running_one_finishes(
    cores: int, first_threads: int
) -> None:
    """`client_left` returning ends a job that does not yet hold its cores (ClientClosedRequest, its
    function never called, its place in the pool given up); a job already running finishes."""
    pool = InferencePool(cores=cores, max_pending=10, queue_timeout_s=30)
    release = threading.Event()
    ran: list[str] = []

    def work(name: str) -> Callable[[], str]:
        def run() -> str:
            ran.append(name)
            release.wait()
            return name

        return run

    async def main() -> None:
        gone = asyncio.Event()

        async def client_left() -> None:
            await gone.wait()

        running = asyncio.ensure_future(pool.run(work("running"), first_threads, StageTimer(), client_left))

        async def started() -> None:
            while not ran:
                await asyncio.sleep(0.005)

        # its thread holds its cores and runs it (a fixed sleep: maybe not yet, on a busy host, and the
        # 2-core job would then wait behind the 1-core one)
        await asyncio.wait_for(started(), 10)
        timer = StageTimer()
        waiting = asyncio.ensure_future(pool.run(work("waiting"), 1, timer, client_left))
        if cores > 1:
            await asyncio.to_thread(_wait_until_waiting, pool._budget, 1)  # taken, waiting for a core
        await asyncio.sleep(0.05)  # past WATCH_QUEUED_AFTER_S: the job watches its client
        gone.set()
        with pytest.raises(ClientClosedRequest):
            await asyncio.wait_for(waiting, 5)
        assert pool.pending == 1  # only the running one is still admitted
        if cores > 1:
            assert timer.finish()["queue"] > 0
        release.set()
        assert await running == "running"

    asyncio.run(main())
    pool.shutdown()
    assert ran == ["running"]


@WAITING_PLACES
def test_a_job_given_less_than_the_queue_timeout_is_refused_when_its_own_time_runs_out(
    cores: int, first_threads: int
) -> None:
    """`timeout_s`: a batched request's later hop may wait only what is left of its allowance. With
    the cores held for good (30 s queue timeout), a job given 0.2 s gets 503 and never runs; the
    message names the request's whole allowance (MVA_QUEUE_TIMEOUT_S)."""
    pool = InferencePool(cores=cores, max_pending=4, queue_timeout_s=30)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        busy = asyncio.ensure_future(pool.run(lambda: release.wait(60), first_threads, StageTimer()))
        await asyncio.to_thread(_wait_until_held, pool)
        timer = StageTimer()
        late = pool.execute(lambda: ran.append("late"), 1, timer, timeout_s=0.2)
        try:
            with pytest.raises(Overloaded, match=r"waited more than 30 s"):
                await asyncio.wait_for(late, 10)  # not the pool's 30 s
        finally:
            release.set()
        assert timer.ms["queue"] >= 200
        assert await busy is True

    asyncio.run(main())
    pool.shutdown()
    assert ran == []


def _wait_until_held(pool: InferencePool) -> None:
    """Until jobs hold all of `pool`'s cores."""
    deadline = time.monotonic() + 10
    while pool._budget._free > 0:
        assert time.monotonic() < deadline, "the job never got its cores"
        time.sleep(0.005)
