"""CORS (MVA_CORS_ORIGINS): Starlette's middleware for every answer the middleware stack sends, and the
same headers for the one it cannot see: the 500 of an unexpected error, which Starlette sends from
outside every middleware (service/api/errors.py). Without them a page on an allowed origin could not
read that answer, nor the request ID its error report needs."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

# x-request-id both ways: a page may send its own ID, and needs to read it for an error report
ALLOW_HEADERS = ["content-type", "authorization", "x-api-key", "x-request-id"]
# x-faces: an annotated /detect answer is a picture, its face count is only in this header
EXPOSE_HEADERS = ["server-timing", "x-served-by", "x-request-id", "retry-after", "x-faces"]


def install(app: FastAPI, origins: Sequence[str]) -> None:
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
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
