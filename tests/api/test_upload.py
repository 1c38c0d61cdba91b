"""service/api/upload.py on starlette's own Request over ASGI messages (what uvicorn hands the app): the
body comes back without a copy when it arrived whole, joined when it came in parts, and a stall between
two parts ends in RequestTimeout. Through a real server: tests/api/test_bad_input.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from starlette.requests import Request

from service.api.upload import read_image
from service.errors import PayloadTooLarge, RequestTimeout


def request_of(parts: list[bytes], stall_after: int | None = None) -> Request:
    """A request whose body arrives in `parts`; after `stall_after` of them, nothing more comes."""
    last = len(parts) - 1
    messages = [{"type": "http.request", "body": part, "more_body": i < last} for i, part in enumerate(parts)]
    sent = 0

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent == stall_after:
            await asyncio.sleep(3600)
        sent += 1
        return messages[sent - 1]

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"image/jpeg")]}
    return Request(scope, receive)


def run(call: Awaitable[bytes]) -> bytes:
    return asyncio.run(call)  # type: ignore[arg-type]


def test_a_body_that_arrived_whole_is_not_copied() -> None:
    body = b"\xff\xd8" + bytes(200_000)
    assert run(read_image(request_of([body]), 1 << 20, 5.0)) is body


def test_parts_are_joined() -> None:
    assert run(read_image(request_of([b"ab", b"", b"cd"]), 1 << 20, 5.0)) == b"abcd"


def test_a_stall_between_parts_times_out() -> None:
    with pytest.raises(RequestTimeout, match="after 2 bytes") as caught:
        run(read_image(request_of([b"ab", b"cd"], stall_after=1), 1 << 20, 0.05))
    assert caught.value.headers == {"Connection": "close"}


def test_the_limit_holds_while_reading() -> None:
    """No Content-Length (chunked): cut off when the second part passes the limit."""
    with pytest.raises(PayloadTooLarge):
        run(read_image(request_of([bytes(600), bytes(600)], stall_after=2), 1000, 5.0))
