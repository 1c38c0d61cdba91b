"""Closed-loop load for saturation figures: `concurrency` clients, each sending its next request as
soon as the last one answered, for a fixed time, on one asyncio loop. Also the in-process
counterpart: the same number of threads calling the engine directly."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import uvloop

from service.bench.stats import Stats


class LoadFailed(RuntimeError):
    pass


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
    # every request answered during the call, warm-up and drain included: what a process's CPU times,
    # read before and after the whole call, were spent on (the figures above count the window only)
    answered: int = 0

    @classmethod
    def combine(cls, parts: list[LoadResult]) -> LoadResult:
        """Several measured windows of the same configuration as one."""
        samples = [s for p in parts for s in p.samples_ms]
        failures: dict[int, int] = {}
        for p in parts:
            for status, n in p.failures.items():
                failures[status] = failures.get(status, 0) + n
        answered = sum(p.answered for p in parts)
        return _result(parts[0].concurrency, sum(p.seconds for p in parts), samples, failures, answered)


def _result(
    concurrency: int, elapsed: float, samples: list[float], failures: dict[int, int], answered: int
) -> LoadResult:
    if not samples:
        raise LoadFailed(f"no request succeeded in the measured window; failures by HTTP status: {failures}")
    return LoadResult(
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        ok=len(samples),
        failed=sum(failures.values()),
        throughput_rps=round(len(samples) / elapsed, 1),
        latency=Stats.of(samples),
        samples_ms=samples,
        failures=failures,
        answered=answered,
    )


def request_bytes(
    host: str, port: int, path: str, params: dict[str, str], body: bytes, headers: dict[str, str]
) -> bytes:
    """One keep-alive HTTP/1.1 POST, encoded once and sent as it is for every request."""
    target = path + (f"?{urlencode(params)}" if params else "")
    lines = [f"POST {target} HTTP/1.1", f"host: {host}:{port}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response; the service always sends Content-Length."""
    status, body, _ = await _read_answer(reader)
    return status, body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """read_response's, and whether the server closes the connection after it (`Connection: close`:
    the service's answer given before the request's body was read, such as a 422 or an early 503)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = CONTENT_LENGTH.search(head)
    if match is None:
        raise ValueError(f"a response without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(int(match.group(1))), CLOSES.search(head) is not None


CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CLOSES = re.compile(rb"\r\nconnection:\s*close\r\n", re.IGNORECASE)


async def _closed_loop(
    host: str, port: int, request: bytes, concurrency: int, seconds: float, warmup_s: float
) -> LoadResult:
    samples: list[float] = []
    failures: dict[int, int] = {}
    answered = 0
    measure_from = time.perf_counter() + warmup_s
    stop = measure_from + seconds

    async def user() -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, port)  # asyncio sets TCP_NODELAY
        try:
            while (begin := time.perf_counter()) < stop:
                writer.write(request)
                status, _, closes = await _read_answer(reader)
                end = time.perf_counter()
                if closes:  # the next request needs a connection of its own
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                answered += 1
                if begin >= measure_from:
                    if status == 200:
                        samples.append((end - begin) * 1000.0)
                    else:
                        failures[status] = failures.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    # the requests that started in the window, over the window: the drain after it is no part of it
    return _result(concurrency, seconds, samples, failures, answered)


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
    """Requests that started inside the measured window count; throughput = their number / window.
    The clients are raw keep-alive HTTP/1.1 connections on one uvloop loop (a request encoded once,
    responses read by Content-Length), as wrk does it: the load generator shares the server's cores,
    and an HTTP library's per-request work (~1.8 ms of CPU for httpx here) would be taken from them."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_bytes(host, port, path, params, image, {"content-type": content_type} | (headers or {}))
    return uvloop.run(_closed_loop(host, port, request, concurrency, seconds, warmup_s))


def thread_load(
    call: Callable[[], object], concurrency: int, seconds: float, warmup_s: float = 1.0
) -> LoadResult:
    """`concurrency` threads calling `call` back to back (engine runners are thread-safe). The calls that
    started inside the measured window count; throughput = their number / window. A call that raises
    stops the measure (LoadFailed): the others' calls alone would pass for the figure of fewer callers."""
    samples: list[float] = []
    calls = [0]
    errors: list[Exception] = []
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop = measure_from + seconds

    def worker() -> None:
        mine, made = [], 0
        try:
            while (begin := time.perf_counter()) < stop and not errors:
                call()
                made += 1
                if begin >= measure_from:
                    mine.append((time.perf_counter() - begin) * 1000.0)
        except Exception as exc:  # noted for the caller: a thread's exception is otherwise only printed
            errors.append(exc)
        with lock:
            samples.extend(mine)
            calls[0] += made

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LoadFailed(f"a caller failed: {type(errors[0]).__name__}: {errors[0]}") from errors[0]
    return _result(concurrency, seconds, samples, {}, calls[0])  # over the window, as http_load
