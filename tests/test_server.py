"""SIGTERM under load: /readyz turns false at once, in-flight requests finish, and no request is lost
when clients route as a load balancer does (stop sending once readiness fails; the service keeps
serving for MVA_SHUTDOWN_DELAY_S meanwhile)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import LiveServer


def test_sigterm_under_load_loses_no_accepted_request(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(shutdown_delay_s="1.0", warm_models='["mobilenet_v2"]')
    data = (images / "cat.bmp").read_bytes()
    outcomes: dict[str, int] = {"answered": 0, "refused": 0, "lost": 0, "error_status": 0}
    readiness: list[tuple[float, int]] = []

    routed = {"ready": True}  # what a load balancer's readiness check last saw

    async def client_loop(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at and routed["ready"]:
            try:
                response = await client.post("/classify", files={"image": data})
            except httpx.ConnectError:
                outcomes["refused"] += 1  # never accepted: the listener was closed
                await asyncio.sleep(0.05)
                continue
            except httpx.TransportError:
                outcomes["lost"] += 1  # accepted, then dropped
                continue
            if response.status_code == 200 and response.json()["predictions"][0]["label"] == "Egyptian cat":
                outcomes["answered"] += 1
            else:
                outcomes["error_status"] += 1

    async def watch_readiness(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            try:
                status = (await client.get("/readyz")).status_code
            except httpx.TransportError:
                status = 0
            readiness.append((time.monotonic(), status))
            routed["ready"] = status == 200
            await asyncio.sleep(0.05)

    async def main() -> float:
        stop_at = time.monotonic() + 4.0
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            tasks = [asyncio.create_task(client_loop(client, stop_at)) for _ in range(4)]
            tasks.append(asyncio.create_task(watch_readiness(client, stop_at)))
            await asyncio.sleep(1.0)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
        return signalled

    signalled = asyncio.run(main())
    # uvicorn re-raises the signal once it has shut down cleanly
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    first_not_ready = next(t for t, status in readiness if t > signalled and status != 200)
    assert first_not_ready - signalled < 0.5
    assert outcomes["lost"] == outcomes["refused"] == outcomes["error_status"] == 0, outcomes
    assert outcomes["answered"] > 10


def _mapped(pid: int, fragment: str) -> bool:
    """Whether a shared object whose path contains `fragment` is loaded in process `pid`."""
    return fragment in Path(f"/proc/{pid}/maps").read_text()


def test_loop_and_http_parser_are_what_serve_was_told(
    start_server: Callable[..., LiveServer], server: LiveServer, images: Path
) -> None:
    """`serve --loop/--http` (MVA_LOOP / MVA_HTTP) really change what serves: the default runs on uvloop
    with httptools; asyncio + h11 (what the README's levers compare against) loads neither parser."""
    plain = start_server(loop="asyncio", http="h11", warm_models='["mobilenet_v2"]')
    picture = (images / "cat.bmp").read_bytes()
    for live, loop, parser_loaded in [(server, "uvloop.Loop", True), (plain, "asyncio.", False)]:
        with live.client() as client:
            assert client.get("/v1/models").json()["event_loop"].startswith(loop)
            answer = client.post("/classify", content=picture, headers={"content-type": "image/bmp"})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "Egyptian cat"
        assert _mapped(live.process.pid, "httptools/parser") is parser_loaded
