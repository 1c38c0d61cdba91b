"""Every error is JSON `{"error": {"code", "message", "field"?}}`, whatever raised it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import cors
from service.api.middleware import SERVED_BY
from service.api.request_timing import timing_so_far
from service.errors import ServiceError

log = logging.getLogger("mobile_vision_api")

# Starlette's own HTTPExceptions (an unknown path, a method the route does not take) in our shape
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if field is not None:  # "" too: a query parameter with no name (service/api/query.py)
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    # a request that failed after spending time (413 while reading, 422 corrupt_image in decode, 503
    # after queueing) tells where that time went, as a successful one does
    headers = timing_so_far(request) | exc.headers
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


# what pydantic takes for a boolean query parameter (simd, annotate): its message alone did not say
BOOLEAN_VALUES = "on or off (also true/false, yes/no, 1/0)"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path", "header")]
    field = ".".join(loc) or None
    message = first.get("msg")
    if first.get("type") == "bool_parsing":
        message = f"{message}: {BOOLEAN_VALUES}"
    return error_response(422, "invalid_parameter", f"{field}: {message}", field)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    if exc.status_code == 405 and headers and "Allow" in headers:
        headers = {**headers, "Allow": _with_head(headers["Allow"])}
    return error_response(
        exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "http_error"), str(exc.detail), headers=headers
    )


def _with_head(allow: str) -> str:
    """The router's 405 names the methods of the first route it found on the path: GET, where HEAD is a
    route of its own beside every GET (service/api/routes/__init__.py). RFC 9110 wants all of them."""
    methods = [m.strip() for m in allow.split(",") if m.strip()]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return ", ".join(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    log.exception("unhandled error (request %s %s, X-Request-ID %s)", request.method, request.url.path, rid)
    request.state.logged_error = exc  # for LoggedOnce
    # Starlette sends this answer from outside every middleware, so neither RequestMetrics nor CORS can
    # add the headers every other response gets; a 500 is the answer whose request ID matters most
    settings = request.app.state.mva.settings
    headers = {SERVED_BY.decode(): settings.replica, **timing_so_far(request)}
    headers |= cors.error_headers(settings.cors_origins, request.headers.get("origin"))
    if rid is not None:
        headers["X-Request-ID"] = rid
    return error_response(500, "internal_error", "internal error; see the server log", headers=headers)


class LoggedOnce:
    """Wraps the whole app, outside Starlette's ServerErrorMiddleware: that one re-raises an unexpected
    error once `_unexpected` has logged it (with the request's ID) and answered, for the server to log
    it again, a second ERROR record with the same traceback. That error ends here; any other (one the
    handler did not log) goes on to the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope.get("state", {}).get("logged_error") is not exc:
                raise


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
