"""Header fields as the request's HTTP parser hands them. List headers (RFC 9110 5.3): a client or proxy
may send one on several lines, which together are one list in their order; reading the first line alone
drops the rest. A value compared whole: `field`, without the whitespace around it."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Scope

# RFC 9112 5.1: the whitespace around a field value is no part of it. h11 leaves it out; httptools,
# uvicorn's default parser, keeps the trailing part
_OWS = " \t"


def request_headers(scope: Scope) -> Headers:
    """The request's header fields, read in place from `scope["headers"]`: for a middleware, which has no
    Request. `Headers(scope=scope)` copies the list (and puts the copy in the scope) on every request."""
    raw = scope["headers"]
    return Headers(raw=raw if isinstance(raw, list) else list(raw))  # ASGI allows any iterable


def field(headers: Headers, name: str) -> str | None:
    """`name`'s value (its first line) without the whitespace around it; None when the request has none."""
    value = headers.get(name)
    return None if value is None else value.strip(_OWS)


def has_a_body(headers: Headers) -> bool:
    """Whether a body follows the request's head: chunked, or a Content-Length other than 0."""
    return "transfer-encoding" in headers or field(headers, "content-length") not in (None, "0")


def list_header(headers: Headers, name: str) -> str | None:
    """Every line of `name` joined as one comma-separated list; None when the request has none."""
    lines = headers.getlist(name)
    return ", ".join(lines) if lines else None
