"""HTTP that uvicorn cannot parse (a bad request line or header, a URL over ~64 KB, a duplicated
Content-Length) never reaches the app: uvicorn answers it itself, with a plain-text 400 "Invalid HTTP
request received.". Its two protocols, subclassed in this package, answer it in the service's JSON
error shape instead; uvicorn's `http` option takes a protocol's import path (`protocol_for`). Only the
answer's body and type change: uvicorn still logs its warning, and closes the connection after the
answer. One module per parser: `--http h11` loads no httptools (the latency lab compares the two)."""

from __future__ import annotations

import asyncio

from uvicorn.server import ServerState

from service.api.errors import error_response

MESSAGE = "the request is not valid HTTP/1.1: its request line or a header could not be parsed"
# the whole answer but uvicorn's own headers (Server, Date), built once: it never changes
_ANSWER = error_response(400, "bad_request", MESSAGE)
_HEAD = b"HTTP/1.1 400 Bad Request\r\n" + b"".join(
    name + b": " + value + b"\r\n" for name, value in [*_ANSWER.raw_headers, (b"connection", b"close")]
)
_PROTOCOLS = {
    "httptools": f"{__name__}.httptools_json:JsonHttpToolsProtocol",
    "h11": f"{__name__}.h11_json:JsonH11Protocol",
}


class JsonBadRequest:
    """Replaces uvicorn's send_400_response, which both its protocols call on a parser error with the
    same fixed message."""

    transport: asyncio.Transport
    server_state: ServerState

    def send_400_response(self, msg: str) -> None:
        own = b"".join(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers)
        self.transport.write(_HEAD + own + b"\r\n" + _ANSWER.body)
        self.transport.close()


def protocol_for(parser: str) -> str:
    """uvicorn's `http` option for `serve --http` (httptools or h11)."""
    return _PROTOCOLS[parser]
