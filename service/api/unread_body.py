"""An answer sent before the request's body was read to its end closes the connection, when the rest of
the body is unbounded or was never sent.

- A chunked body may never end, and uvicorn (httptools and h11 alike) would read and discard it after
  a 413, a 401 or a 422 for a bad parameter, on a connection no timeout watches (the receive timeout is
  the app's, and the app has answered). Closing stops that at once.
- `Expect: 100-continue`: the client holds the body back until "100 Continue", which uvicorn sends when
  the app first reads the body. Without the close uvicorn still waits for the body, and reads the
  client's next request on that connection as the body it owes (a plain-text 400, or a hang). RFC 9110
  10.1.1: such an answer should say whether the server goes on reading; this one says it closes.

A body sent with its length is left to uvicorn to read to its end, and the connection kept: closed with
body bytes unread, the kernel resets the connection, and a sender still writing loses the answer.
nginx in front (deploy/) sends every body with its length, and it answered an early 503 overloaded, or
the 413 of a body just over the limit, with its own 503 once a replica reset it mid-body
(tests/deploy/test_compose_stack.py). The proxy's own size limit bounds what is read."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.headers import has_a_body, list_header, request_headers


def _unbounded_or_withheld(headers: Headers) -> bool:
    """Whether a body follows that is chunked (it may never end) or held back until asked for."""
    # has_a_body first: most requests have none (GET, probes, scrapes), and Expect is then not read
    return has_a_body(headers) and (
        "transfer-encoding" in headers or "100-continue" in (list_header(headers, "expect") or "").lower()
    )


class CloseOnUnreadBody:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _unbounded_or_withheld(request_headers(scope)):
            await self.app(scope, receive, send)
            return
        body_read = False

        async def receive_wrapper() -> Message:
            nonlocal body_read
            message = await receive()
            # the last part of the body, or the client gone: nothing more will come on the connection
            body_read = body_read or not message.get("more_body", False)
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"connection" for name, _ in headers):  # the 408 has its own
                    message["headers"] = [*headers, (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)
