"""Closed-loop load for saturation figures: `concurrency` clients, each sending its next request as
soon as the last one answered, for a fixed time, on one asyncio loop (httpx). Also the in-process
counterpart: the same number of threads calling the engine directly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from service.bench.stats import Stats


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    seconds: float
    ok: int
    failed: int
    throughput_rps: float
    latency: Stats
    samples_ms: list[float] = field(default_factory=list, repr=False)
    failures: dict[int, int] = field(default_factory=dict)  # HTTP status -> count

    @classmethod
    def combine(cls, parts: list[LoadResult]) -> LoadResult:
        """Several measured windows of the same configuration as one."""
        samples = [s for p in parts for s in p.samples_ms]
        failures: dict[int, int] = {}
        for p in parts:
            for status, n in p.failures.items():
                failures[status] = failures.get(status, 0) + n
        return _result(parts[0].concurrency, sum(p.seconds for p in parts), samples, failures)


def _result(concurrency: int, elapsed: float, samples: list[float], failures: dict[int, int]) -> LoadResult:
    return LoadResult(
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        ok=len(samples),
        failed=sum(failures.values()),
        throughput_rps=round(len(samples) / elapsed, 1),
        latency=Stats.of(samples),
        samples_ms=samples,
        failures=failures,
    )


async def _http_load(
    url: str,
    path: str,
    params: dict[str, str],
    image: bytes,
    content_type: str,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    headers: dict[str, str],
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    samples: list[float] = []
    failures: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers) as client:
        loop_start = time.perf_counter()
        measure_from = loop_start + warmup_s
        stop = measure_from + seconds

        async def user() -> None:
            body_headers = {"content-type": content_type}
            while (begin := time.perf_counter()) < stop:
                response = await client.post(path, params=params, content=image, headers=body_headers)
                end = time.perf_counter()
                if begin >= measure_from:
                    if response.status_code == 200:
                        samples.append((end - begin) * 1000.0)
                    else:
                        failures[response.status_code] = failures.get(response.status_code, 0) + 1

        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - measure_from
    return _result(concurrency, elapsed, samples, failures)


def http_load(
    url: str,
    path: str,
    params: dict[str, str],
    image: bytes,
    content_type: str,
    concurrency: int,
    seconds: float,
    warmup_s: float = 2.0,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Requests that started inside the measured window count; throughput = their number / window."""
    return asyncio.run(
        _http_load(url, path, params, image, content_type, concurrency, seconds, warmup_s, headers or {})
    )


def thread_load(
    call: Callable[[], object], concurrency: int, seconds: float, warmup_s: float = 1.0
) -> LoadResult:
    """`concurrency` threads calling `call` back to back (engine runners are thread-safe)."""
    samples: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop = measure_from + seconds

    def worker() -> None:
        mine = []
        while (begin := time.perf_counter()) < stop:
            call()
            if begin >= measure_from:
                mine.append((time.perf_counter() - begin) * 1000.0)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _result(concurrency, time.perf_counter() - measure_from, samples, {})
