"""The app factory: `create_app(settings)` wires state, routes, errors and middleware."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from service import __version__
from service.api import cors, errors, openapi
from service.api.access_log import AccessLog
from service.api.first_request_grace import GRACE_KEY
from service.api.malformed_http import BOOKKEEPING, Bookkeeping
from service.api.middleware import RequestMetrics
from service.api.routes import classify, detect, docs, health, models, web
from service.api.security import require_api_key
from service.api.state import AppState
from service.api.unread_body import CloseOnUnreadBody
from service.memory import keep_freed_memory
from service.settings import ServerSettings

log = logging.getLogger("mobile_vision_api")


class ServiceApp(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # outside ServerErrorMiddleware: LoggedOnce ends the error it re-raises once answered, and the
        # 500 it sends goes through CloseOnUnreadBody like every other answer
        return errors.LoggedOnce(CloseOnUnreadBody(super().build_middleware_stack()))


class RestartGivenUp(RuntimeError):
    """A process SIGHUP's rolling restart started failed its warm-up: its startup fails with this."""


def _give_the_restart_up(failure: str) -> NoReturn:
    """Fails the startup of a process SIGHUP's rolling restart started, whose warm-up failed: it exits at
    once (uvicorn's exit code 3), and uvicorn keeps the old process it was to replace and gives the
    restart up, so the old processes serve on with the models they loaded. Started not ready, it had the
    old one retired all the same: a SIGHUP after deploying models that do not load took every process to
    503. Logged first: uvicorn's own line says the new process "was not ready in time"."""
    log.error(
        "SIGHUP restart: the new process's warm-up failed (%s); it exits and the old processes keep serving",
        failure,
    )
    raise RestartGivenUp(f"warm-up failed ({failure})")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    keep_freed_memory()
    state = AppState.create(settings)
    access_log = AccessLog(settings.replica) if settings.access_log else None
    # in the lifespan's state, which uvicorn gives its protocols: the one that answers HTTP it cannot
    # parse, which never reaches the app or its middleware, records it there; and the shutdown's grace
    # for a new connection's first request (service/api/first_request_grace.py)
    protocol_state: dict[str, object] = {
        BOOKKEEPING: Bookkeeping(state.metrics, settings.replica, access_log),
        GRACE_KEY: settings.first_request_grace_s,
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        try:
            if state.siblings is not None and state.siblings.joins_serving:
                # others serve meanwhile: uvicorn listens only once the startup is over, so no request
                # meets this process cold (a 503), and SIGHUP's rolling restart, which waits for that,
                # retires an old process only once its replacement's warm-up is over
                await asyncio.to_thread(state.warm_up)
                if not state.ready and state.siblings.replaces_on_sighup:
                    _give_the_restart_up(state.warm_up_failure)
            else:
                # Warm up off the event loop so /healthz answers (and /readyz says "warming up") meanwhile.
                threading.Thread(target=state.warm_up, name="warm-up", daemon=True).start()
            yield protocol_state
        finally:  # a startup that failed too: no live gauge of this process stays in /metrics' sum
            await asyncio.to_thread(state.pool.shutdown)
            state.metrics.close()
            if state.siblings is not None:
                state.siblings.mark_gone()

    app = ServiceApp(
        title="mobile-vision-api",
        version=__version__,
        description=(
            "MobileNetV2 classification and BlazeFace face detection on the server, with selectable engine "
            "(onnxruntime, LiteRT), SIMD, threads and precision, and a timing breakdown for every request."
        ),
        lifespan=lifespan,
        # /docs is ours (routes/docs.py: Swagger UI without a CDN); ReDoc has no offline copy here
        docs_url=None,
        redoc_url=None,
    )
    app.state.mva = state
    errors.install(app)
    # without a key the check is a no-op: leaving the dependency out saves its resolution per request
    protected = [Depends(require_api_key)] if settings.api_key is not None else []
    for router in (classify.router, detect.router, models.router):
        app.include_router(router, dependencies=protected)
    for router in (health.router, web.router, docs.router):
        app.include_router(router)
    protected_paths = {
        route.path
        for router in (classify.router, detect.router, models.router)
        for route in router.routes
        if isinstance(route, APIRoute)
    }
    openapi.install(app, protected_paths, api_key=settings.api_key is not None)
    cors.install(app, settings.cors_origins)
    app.add_middleware(RequestMetrics, metrics=state.metrics, replica=settings.replica, access_log=access_log)
    return app
