"""service/api/upload_slots.py through a real server with MVA_MAX_UPLOADS=1: while one upload is still
being sent, the next is refused before its body is read (503 overloaded, JSON, Retry-After), and the first
completes. Played by sockets: the first upload is left half sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import LiveServer
from tests.raw_http import connect, exchange, read_head


def _upload(length: int, expect: bool = False) -> bytes:
    return (
        "POST /classify?top_k=1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
        + f"Content-Length: {length}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    ).encode()


def test_an_upload_past_the_limit_is_refused_while_the_first_is_still_sending(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(max_uploads="1", warm_models='["mobilenet_v2"]')
    image = (images / "cat.bmp").read_bytes()
    half = len(image) // 2
    with connect(server.port) as first, connect(server.port) as second:
        # "100 Continue" comes once the server begins reading the body: the first upload holds its slot
        first.sendall(_upload(len(image), expect=True))
        interim = read_head(first)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        first.sendall(image[:half])

        head, body, _ = exchange(second, _upload(len(image)) + image)
        assert head.startswith(b"HTTP/1.1 503"), head
        assert b"\r\ncontent-type: application/json" in head.lower() and b"\r\nretry-after: " in head.lower()
        error = json.loads(body)["error"]
        assert error["code"] == "overloaded" and "uploads being read at once: 1 (limit 1)" in error["message"]

        head, body, _ = exchange(first, image[half:], interim.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 200"), head
        assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"

        # the slot is free again: the next upload is read
        head, body, _ = exchange(second, _upload(len(image)) + image)
        assert head.startswith(b"HTTP/1.1 200"), head
