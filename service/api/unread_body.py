"""An answer sent before the request's body was read to its end closes the connection.

uvicorn (httptools and h11 alike) would otherwise keep the connection and read the rest of the body
itself, discarding it, however long it is: a chunked body that never ends, or a `Content-Length` of a
terabyte, after a 413, a 401 or a 422 for a bad parameter, on a connection no timeout watches (the
receive timeout is the app's, and the app has answered). Closing stops that at once.

`Expect: 100-continue` is the case where the body was not even asked for: the client holds it back
until "100 Continue", which uvicorn sends when the app first reads the body. Without the close uvicorn
still waits for the body, and reads the client's next request on that connection as the body it owes
(a plain-text 400, or a hang). RFC 9110 10.1.1: such an answer should say whether the server goes on
reading; this one says it closes, so the next request starts on a clean connection."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.headers import has_a_body


class CloseOnUnreadBody:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_a_body(Headers(scope=scope)):
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
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)
