"""The 1-client HTTP overhead goal of bench-goals: the default request (`POST /classify`, raw JPEG
body, no parameters) against the same pipeline in-process, and where the difference goes (the floor,
the spinning client, the app without HTTP, variants of the default server)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from statistics import median

from service.bench.asgi import InProcessApp
from service.bench.http import LeanClient, SpinningClient, api_key_headers
from service.bench.inprocess import InProcess
from service.bench.matrix import Cell
from service.bench.stats import Stats
from service.client import client_for
from service.timing import time_call
from service.turns import in_turns


def http_overhead(
    url: str,
    floor_url: str,
    inprocess: InProcess,
    cell: Cell,
    image: bytes,
    blocks: int,
    per_block: int,
    variant_urls: dict[str, str] | None = None,
) -> dict:
    """The default request (`POST /classify`, raw JPEG body, no parameters) against the same pipeline
    in-process (`cell`: what that request runs), in blocks taking turns (service/turns.py) so
    drift on a shared machine hits all alike. The goal figure uses a lean client (http.client, as
    curl or a load balancer costs); httpx is shown beside it, as its own per-request work is part of
    what a Python caller sees. The floor (service/bench/floor.py, the same pipeline behind a bare
    ASGI app, same lean client) is what uvicorn, loopback TCP and the thread hop take on this host
    whatever the app does. `variant_urls` (by name, as goals.py's VARIANTS): the default server with
    one setting changed, timed the same way."""
    pipeline_call = inprocess.pipeline_call(cell, image)
    lean_call = default_request(url, image)
    floor_call = default_request(floor_url, image)
    client = client_for(url, timeout=60, headers=api_key_headers())

    def httpx_call() -> object:
        response = client.post("/classify", content=image, headers={"content-type": "image/jpeg"})
        response.raise_for_status()
        return response

    for _ in range(10):
        pipeline_call(), httpx_call()
    server_stages: list[dict[str, float]] = []

    def timed_lean() -> float:
        begin = time.perf_counter()
        body = lean_call()
        elapsed = (time.perf_counter() - begin) * 1000.0
        server_stages.append(json.loads(body)["timing"])
        return elapsed

    # the floor's parts: the hop and HTTP with no work, and with a busy-wait as long as the pipeline
    wait_ms = round(median(time_call(pipeline_call) for _ in range(20)), 1)
    floor_client = LeanClient(floor_url)

    def floor_busy(ms: float) -> float:
        return time_call(lambda: floor_client.post("/", {"busy_ms": str(ms)}, b"", "image/jpeg"))

    calls = {"pipeline": lambda: time_call(pipeline_call), "http": timed_lean}
    calls |= {"httpx": lambda: time_call(httpx_call), "floor": lambda: time_call(floor_call)}
    calls |= {"floor_no_work": lambda: floor_busy(0), "floor_busy_wait": lambda: floor_busy(wait_ms)}
    # the default request again from a client that polls instead of sleeping: what is left without
    # the client's own wake-up (a diagnostic; the goal figure is the lean client's)
    spinning = SpinningClient(url)
    calls["http_spinning_client"] = lambda: time_call(
        lambda: spinning.post("/classify", {}, image, "image/jpeg")
    )
    # the same request without HTTP, in this process: the whole app, and our handler alone, each
    # timed on the app's own loop, which runs all along as the server's does (service/bench/asgi.py);
    # the pipeline stays timed here, with no loop, as the work the handler hops to and back from
    in_process_app = InProcessApp(cell.model)
    calls["asgi_app"] = in_process_app.call(image)
    calls["asgi_handler"] = in_process_app.call(image, handler_only=True)
    for name, variant_url in (variant_urls or {}).items():
        variant_call = default_request(variant_url, image)
        calls[f"http_{name}"] = partial(time_call, variant_call)
    runs = in_turns(calls, blocks, per_block)
    client.close()
    floor_client.close()
    spinning.close()
    in_process_app.close()
    stats = {name: Stats.of(values) for name, values in runs.items()}
    pipeline_p50 = stats["pipeline"].p50_ms
    # where the difference goes: the server's own stage figures (p50 of each)
    stages = {k: round(median(t[k] for t in server_stages), 3) for k in server_stages[0]}
    return {
        "cell": cell.label,
        "client": "http.client, keep-alive, TCP_NODELAY; no query parameters",
        **{name: asdict(stat) for name, stat in stats.items()},
        "server_timing_p50_ms": stages,
        "overhead_ms": round(stats["http"].p50_ms - pipeline_p50, 3),
        "httpx_overhead_ms": round(stats["httpx"].p50_ms - pipeline_p50, 3),
        "floor_overhead_ms": round(stats["floor"].p50_ms - pipeline_p50, 3),
        # what the floor costs with no work in the thread, and with a busy-wait of wait_ms instead
        # of the pipeline: when the second is about the floor's overhead and the first far below,
        # the time goes to waking what slept through the wait, not to the pipeline or to HTTP
        "floor_no_work_ms": stats["floor_no_work"].p50_ms,
        "busy_wait_ms": wait_ms,
        "floor_busy_wait_excess_ms": round(stats["floor_busy_wait"].p50_ms - wait_ms, 3),
        "spinning_client_overhead_ms": round(stats["http_spinning_client"].p50_ms - pipeline_p50, 3),
        # without HTTP (service/bench/asgi.py): our handler around the pipeline (the hop there and back,
        # upload, settings, timing, typed response), then FastAPI's layers and our middleware (which
        # also counts the request and observes the stage histograms)
        "asgi_handler_overhead_ms": round(stats["asgi_handler"].p50_ms - pipeline_p50, 3),
        "asgi_app_over_handler_ms": round(stats["asgi_app"].p50_ms - stats["asgi_handler"].p50_ms, 3),
        "http_over_asgi_app_ms": round(stats["http"].p50_ms - stats["asgi_app"].p50_ms, 3),
    } | {
        f"{name}_overhead_ms": round(stats[f"http_{name}"].p50_ms - pipeline_p50, 3)
        for name in variant_urls or {}
    }


def default_request(url: str, image: bytes) -> Callable[[], bytes]:
    """The default /classify request (raw JPEG body, no parameters) from a LeanClient, warmed up."""
    client = LeanClient(url)

    def call() -> bytes:
        return client.post("/classify", {}, image, "image/jpeg")

    for _ in range(10):
        call()
    return call
