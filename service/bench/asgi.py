"""The service's request path without HTTP, in this process: the whole app called as an ASGI callable
(our middleware, FastAPI's routing and request handling, the handler, the hop to the inference thread
and back), and the /classify handler alone (called with a Request: no middleware, no routing). Timed
beside the same pipeline in-process (bench-goals, http_overhead), they split the HTTP overhead into
what our handler adds around the pipeline, what FastAPI's layers add, and what is left for uvicorn,
loopback TCP and the client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop
from starlette.requests import Request
from starlette.types import Message, Scope

from service.api.app import create_app
from service.api.routes.classify import classify
from service.settings import ServerSettings

PATH = "/classify"
T = TypeVar("T")


class InProcessApp:
    """The app with default settings (no API key), warmed for `model`, on a uvloop loop of its own
    that runs all along on a thread of its own, as the server's loop does: a call is timed on that
    loop, from the request to the answer, and the hop into it and back is left out. Timed around a
    loop started per call instead (before 27 November evening), each figure also held that start and
    stop, which the server's loop never pays; the work inside the window is the same either way (the
    figures: README, Levers tried). `new_loop` makes the loop (uvloop's, as the server runs)."""

    def __init__(
        self, model: str, new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    ) -> None:
        # the app first: settings that fail (a model the manifest lacks) leave no loop thread behind
        self.app = create_app(ServerSettings(api_key=None, api_key_file=None, warm_models=[model]))
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.loop = new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="in-process-app", daemon=True)
        self._thread.start()
        try:
            self._on_loop(self._lifespan.__aenter__())
        except BaseException:
            self._stop_loop()
            raise
        state = self.app.state.mva
        while not state.ready:
            if state.not_ready_reason and "warming" not in state.not_ready_reason:
                self.close()
                raise RuntimeError(f"in-process app not ready: {state.not_ready_reason}")
            time.sleep(0.05)

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def _scope(self, body: bytes) -> Scope:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            # the content type only tells an image body from a multipart one: the decoder sniffs the format
            "headers": [(b"content-type", b"image/jpeg"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }

    async def _run(self, body: bytes, handler_only: bool) -> bytes:
        sent: list[Message] = []
        body_given = False
        answered = asyncio.Event()

        async def receive() -> Message:
            # as uvicorn: the body once, then nothing until the response is sent. A request queued
            # for a core watches its client by receive() until http.disconnect (service/inference.py):
            # the body handed again at once would hold the loop in that watch for good
            nonlocal body_given
            if body_given:
                await answered.wait()
                return {"type": "http.disconnect"}
            body_given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered.set()

        scope = self._scope(body)
        if handler_only:
            scope["app"] = self.app
            response = await classify(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        if status != 200:
            raise RuntimeError(f"in-process {PATH}: HTTP {status}: {answer[:300]!r}")
        return answer

    async def _timed(self, body: bytes, handler_only: bool) -> float:
        start = time.perf_counter()
        await self._run(body, handler_only)
        return (time.perf_counter() - start) * 1000.0

    def answer(self, body: bytes, handler_only: bool = False) -> bytes:
        """The answer of one call: the whole app, or the handler alone."""
        return self._on_loop(self._run(body, handler_only))

    def call(self, body: bytes, handler_only: bool = False) -> Callable[[], float]:
        """A timed call, warmed up: how long the whole app or the handler alone took, in ms."""

        def once() -> float:
            return self._on_loop(self._timed(body, handler_only))

        for _ in range(10):
            once()
        return once

    def close(self) -> None:
        try:
            self._on_loop(self._lifespan.__aexit__(None, None, None))
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
