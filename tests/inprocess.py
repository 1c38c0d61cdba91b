"""The real app (or any ASGI app) served by uvicorn in this process, jobs of the test on the app's
inference pool, and a real runner whose engine calls wait for the test: for tests that decide when the
pool's cores free up, rather than guessing from sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import uvicorn
from starlette.types import ASGIApp

from service.api.state import AppState
from service.engines.base import EffectiveSettings, Runner
from service.localserver import LOOPBACK, free_port


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` on a free loopback port, with its lifespan, in a thread of this process; yields its URL
    once it listens, and stops it (a graceful shutdown, waited for) when the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it listened (its log says why)"
            assert time.monotonic() < deadline, "uvicorn did not listen within 30 s"
            time.sleep(0.01)
        yield f"http://{LOOPBACK}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def cores_held(state: AppState) -> Iterator[threading.Event]:
    """A job of the test on every inference core until the yielded event is set (at the latest when
    the block ends, which also shuts the pool down)."""
    held, release = threading.Event(), threading.Event()

    def job() -> None:
        held.set()
        release.wait()

    holder = threading.Thread(target=state.pool.run_blocking, args=(job, state.pool.cores))
    holder.start()
    assert held.wait(30), "the job never got the cores"
    try:
        yield release
    finally:
        release.set()
        holder.join()
        state.pool.shutdown()


class GatedRunner:
    """A real runner whose engine calls wait for `gate`: a test can let a request arrive while a batch
    runs."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.settings: EffectiveSettings = runner.settings
        self.started = threading.Event()
        self.gate = threading.Event()

    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        self.started.set()
        self.gate.wait(30)
        return self.runner.run(pixels)
