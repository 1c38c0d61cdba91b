"""Running the app under uvicorn, with a shutdown that loses no accepted request: on SIGTERM the
service reports not-ready at once, keeps serving for MVA_SHUTDOWN_DELAY_S (so a load balancer or
Kubernetes stops routing to it), then stops accepting, lets in-flight requests finish (up to the
graceful timeout) and exits."""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import uvicorn

from service.api.app import create_app
from service.logs import log_config
from service.settings import load_server_settings
from service.workers import shared_run_folder

log = logging.getLogger("mobile_vision_api")

GRACEFUL_TIMEOUT_S = 10


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, begin_shutdown: threading.Event, delay_s: float) -> None:
        super().__init__(config)
        self._begin_shutdown = begin_shutdown
        self._delay_s = delay_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._begin_shutdown.is_set():  # a second signal: shut down now
            super().handle_exit(sig, frame)
            return
        self._begin_shutdown.set()
        log.info("signal %s: not ready; draining in %.1f s", sig, self._delay_s)
        if self._delay_s > 0:
            # uvicorn polls should_exit on its own loop; setting it from a timer thread is safe
            threading.Timer(self._delay_s, super().handle_exit, (sig, frame)).start()
        else:
            super().handle_exit(sig, frame)


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str,
    loop: str = "uvloop",
    http: str = "httptools",
    log_format: str = "text",
    keep_alive_s: float = 5.0,
) -> None:
    common: dict[str, Any] = dict(
        host=host,
        port=port,
        loop=loop,
        http=http,
        log_level=log_level,
        log_config=log_config(log_level, log_format),  # applied in every worker process too
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
        # a proxy that reuses a connection this side is just closing gets a reset and answers 502
        timeout_keep_alive=keep_alive_s,
    )
    # read and checked here, before any worker starts: a bad MVA_* value stops start-up with the reason
    settings = load_server_settings()
    if workers > 1:
        # several processes: uvicorn's supervisor imports the factory in each (no shutdown delay);
        # they share a folder for their metrics and their readiness (service/workers.py)
        with shared_run_folder(workers):
            uvicorn.run("service.api.app:create_app", factory=True, workers=workers, **common)
        return
    app = create_app(settings)
    state = app.state.mva
    server = GracefulServer(
        uvicorn.Config(app, **common), state.shutting_down, state.settings.shutdown_delay_s
    )
    server.run()
