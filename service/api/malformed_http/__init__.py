"""HTTP that uvicorn cannot parse (a bad request line or header, a URL over ~64 KB, a duplicated
Content-Length) never reaches the app: uvicorn answers it itself, with a plain-text 400 "Invalid HTTP
request received.". Its two protocols, subclassed in this package, answer it in the service's JSON
error shape instead; uvicorn's `http` option takes a protocol's import path (`protocol_for`). uvicorn
still logs its warning, and closes the connection after the answer. One module per parser: `--http h11`
loads no httptools (the latency lab compares the two).

The answer also gets what service/api/middleware.py gives every request the app sees: `X-Served-By`,
an `X-Request-ID` (a new one: the headers were not parsed), a count in /metrics
(`mva_malformed_requests_total`) and, with MVA_ACCESS_LOG, a line in the access log. A protocol's only
handle on the app is the lifespan's state (uvicorn's `app_state`, given to every protocol), where the
app puts its `Bookkeeping` (service/api/app.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.server import ServerState

from service.api.access_log import HEADER, AccessLog, new_request_id
from service.api.errors import error_response
from service.api.metrics import Metrics
from service.api.middleware import SERVED_BY

log = logging.getLogger("mobile_vision_api")

MESSAGE = "the request is not valid HTTP/1.1: its request line or a header could not be parsed"
_ANSWER = error_response(400, "bad_request", MESSAGE)
# the answer's headers but uvicorn's own (Server, Date) and the bookkeeping's
_HEADERS = [*_ANSWER.raw_headers, (b"connection", b"close")]
_PROTOCOLS = {
    "httptools": f"{__name__}.httptools_json:JsonHttpToolsProtocol",
    "h11": f"{__name__}.h11_json:JsonH11Protocol",
}
# the key of the lifespan's state under which the app puts its Bookkeeping
BOOKKEEPING = "mva_malformed_http"


class Bookkeeping:
    """What the app records of a request uvicorn answered with this package's 400."""

    def __init__(self, metrics: Metrics, replica: str, access_log: AccessLog | None) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self.replica = replica.encode()  # as the middleware adds it

    def record(self, rid: str, client: str | None) -> None:
        self.metrics.malformed_requests.inc()
        if self.access_log is not None:
            self.access_log.write_unparsed(rid, client, len(_ANSWER.body))


class JsonBadRequest:
    """Replaces uvicorn's send_400_response, which both its protocols call on a parser error with the
    same fixed message."""

    transport: asyncio.Transport
    server_state: ServerState
    app_state: dict[str, Any]
    client: tuple[str, int] | None

    def send_400_response(self, msg: str) -> None:
        bookkeeping: Bookkeeping | None = self.app_state.get(BOOKKEEPING)  # None: the lifespan is off
        rid = new_request_id()
        headers = [*_HEADERS, *self.server_state.default_headers]
        if bookkeeping is not None:
            headers.append((SERVED_BY, bookkeeping.replica))
        headers.append((HEADER, rid.encode()))
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + lines + b"\r\n" + _ANSWER.body)
        self.transport.close()
        if bookkeeping is None:
            return
        # after the answer, as the middleware's: whatever goes wrong here, the client has its 400
        try:
            bookkeeping.record(rid, self.client[0] if self.client else None)
        except Exception:
            log.exception("a 400 for HTTP uvicorn could not parse was sent, but not counted or logged")


def protocol_for(parser: str) -> str:
    """uvicorn's `http` option for `serve --http` (httptools or h11)."""
    return _PROTOCOLS[parser]
