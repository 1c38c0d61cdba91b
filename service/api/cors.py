"""CORS (MVA_CORS_ORIGINS): Starlette's middleware for every answer the middleware stack sends, and the
same headers for the one it cannot see: the 500 of an unexpected error, which Starlette sends from
outside every middleware (service/api/errors.py). Without them a page on an allowed origin could not
read that answer, nor the request ID its error report needs. A preflight the middleware refuses is
answered in the service's JSON error shape, as every other error."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import Response

# a module import, not a name: errors.py imports this module for error_headers
from service.api import errors
from service.api.openapi import RESPONSE_HEADERS

# x-request-id both ways: a page may send its own ID, and needs to read it for an error report
ALLOW_HEADERS = ["content-type", "authorization", "x-api-key", "x-request-id"]
# every response header the service sends (x-faces: an annotated /detect answer is a picture, its face
# count is only in this header)
EXPOSE_HEADERS = [name.lower() for name in RESPONSE_HEADERS]
# HEAD: every GET route answers it (service/api/routes/__init__.py), and a HEAD that sends the key is
# preflighted like a GET
ALLOW_METHODS = ["GET", "HEAD", "POST"]


class JsonErrorCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, but a refused preflight (origin, method or header not allowed) is
    the service's JSON error, not Starlette's plain-text 400 "Disallowed CORS origin"; same status and
    CORS headers."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        # the CORS headers only: content-type and content-length are the JSON body's own
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        reason = bytes(response.body).decode()  # "Disallowed CORS origin, method"
        return errors.error_response(400, "cors_not_allowed", f"preflight refused: {reason}", headers=headers)


def install(app: FastAPI, origins: Sequence[str]) -> None:
    if origins:
        app.add_middleware(
            JsonErrorCORSMiddleware,
            allow_origins=origins,
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
            max_age=600,
        )


def error_headers(origins: Sequence[str], origin: str | None) -> dict[str, str]:
    """What CORSMiddleware adds to a simple (not preflight) answer for `origin`."""
    if not origins:
        return {}
    headers = {"Vary": "Origin"}
    if origin is not None:
        headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSE_HEADERS)
        if "*" in origins or origin in origins:
            headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
    return headers
