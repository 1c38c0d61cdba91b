"""Closed-loop load for saturation figures: `concurrency` clients, each sending its next request as
soon as the last one answered, for a fixed time, on one asyncio loop (httpx). Also the in-process
counterpart: the same number of threads calling the engine directly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


def _result(concurrency: int, elapsed: float, samples: list[float], failed: int) -> LoadResult:
    return LoadResult(
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        ok=len(samples),
        failed=failed,
        throughput_rps=round(len(samples) / elapsed, 1),
        latency=Stats.of(samples),
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
    failed = 0
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers) as client:
        loop_start = time.perf_counter()
        measure_from = loop_start + warmup_s
        stop = measure_from + seconds

        async def user() -> None:
            nonlocal failed
            body_headers = {"content-type": content_type}
            while (begin := time.perf_counter()) < stop:
                response = await client.post(path, params=params, content=image, headers=body_headers)
                end = time.perf_counter()
                if begin >= measure_from:
                    if response.status_code == 200:
                        samples.append((end - begin) * 1000.0)
                    else:
                        failed += 1

        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - measure_from
    return _result(concurrency, elapsed, samples, failed)


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
    return _result(concurrency, time.perf_counter() - measure_from, samples, 0)
