"""`Expect: 100-continue`: the client holds its body back until "100 Continue", which uvicorn sends when
the app first reads the body. An answer given before that (an unknown model, a bad parameter, a declared
length over the limit) leaves the connection ambiguous: the client may never send the body, but uvicorn
(httptools and h11 alike) still waits for it, and reads the client's next request on that connection as
the body it owes (a plain-text 400, or a hang). RFC 9110 10.1.1: such an answer should say whether the
server goes on reading; this one says it closes, so the next request starts on a clean connection."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _holds_back_a_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    # uvicorn's own test of the expectation: the whole value, any case
    if headers.get(b"expect", b"").lower() != b"100-continue":
        return False
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


class CloseUnreadExpectContinue:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _holds_back_a_body(scope):
            await self.app(scope, receive, send)
            return
        body_asked_for = False

        async def receive_wrapper() -> Message:
            nonlocal body_asked_for
            body_asked_for = True  # uvicorn sends "100 Continue" now: the client sends its body
            return await receive()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_asked_for:
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)
