"""service/api/inference.py in-process: the real app over ASGI messages (what uvicorn hands it), so
that the test decides when the client hangs up. Through real servers: tests/test_batching.py."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from service.api.app import create_app
from service.batching import MicroBatcher
from service.settings import ServerSettings
from service.timing import StageTimer


def test_a_batched_request_whose_client_left_while_it_waited_for_a_core_is_not_postprocessed(
    images: Path,
) -> None:
    """Micro-batching, one core: once its batch has run, an annotated /detect asks for the core again to
    draw and encode its picture, but a job of the test has taken it. The client hangs up meanwhile:
    499 at once, and the picture is never made. Before, that hop watched no connection: the request
    held its admission slot until its queue timeout (503), or, given the core, made a picture for
    nobody."""
    app = create_app(
        ServerSettings(warm_models=[], inference_cores=1, batch_window_ms=1000, queue_timeout_s=3)
    )
    state = app.state.mva
    state.warm_up()  # no model to warm: ready (the lifespan that would start it is not run here)
    release = threading.Event()
    holder: list[asyncio.Future[bool]] = []
    left = asyncio.Event()  # the client has hung up

    def batch_ran(size: int) -> None:
        # on the event loop, before the batch's members get their rows: the test's job reaches the
        # pool ahead of the request's postprocessing, and the client leaves
        holder.append(asyncio.ensure_future(state.pool.execute(release.wait, 1, StageTimer())))
        left.set()

    state.batcher = MicroBatcher(state.pool, window_ms=1000, max_batch=1, observe=batch_ran)
    body: list[dict[str, Any]] = [
        {"type": "http.request", "body": (images / "face.jpg").read_bytes(), "more_body": False}
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if body:
            return body.pop()
        await left.wait()
        return {"type": "http.disconnect"}  # what uvicorn answers once the client has hung up

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/detect",
        "raw_path": b"/detect",
        "root_path": "",
        "query_string": b"annotate=true",
        "headers": [(b"host", b"test"), (b"content-type", b"image/jpeg")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def main() -> None:
        try:
            await app(scope, receive, send)
        finally:
            release.set()
            await asyncio.gather(*holder)

    try:
        asyncio.run(main())
    finally:
        release.set()
        state.pool.shutdown()
    assert len(holder) == 1  # the batch ran
    start = next(message for message in sent if message["type"] == "http.response.start")
    assert start["status"] == 499
