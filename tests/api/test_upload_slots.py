"""service/api/upload_slots.py through a real server with MVA_MAX_UPLOADS=1: while one upload is still
being sent, the next is refused before its body is read (503 overloaded, JSON, Retry-After), and the first
completes. An upload that ends otherwise (413, the client gone, 408) gives its slot back too. Played by
sockets: an upload is left half sent."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LiveServer, metric
from tests.raw_http import connect, exchange, read_head, response

LIMIT = 600_000  # the upload limit: cat.bmp is under it, grace_hopper.bmp over
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.fixture(scope="module")
def one_upload(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """One upload read at a time; an upload stalled for 2 s gets its 408."""
    return start_module_server(
        max_uploads="1", max_upload_bytes=str(LIMIT), receive_timeout_s="2", warm_models='["mobilenet_v2"]'
    )


def _upload(length: int, expect: bool = False) -> bytes:
    return (
        "POST /classify?top_k=1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
        + f"Content-Length: {length}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    ).encode()


def _hold_the_slot(sock: socket.socket, image: bytes) -> bytes:
    """Sends an upload's head and the first half of `image`; returns what came after "100 Continue",
    which comes once the server begins reading the body: the upload holds the slot."""
    sock.sendall(_upload(len(image), expect=True))
    interim = read_head(sock)
    assert interim.startswith(CONTINUE), interim
    sock.sendall(image[: len(image) // 2])
    return interim.removeprefix(CONTINUE)


def _assert_the_next_upload_is_read(server: LiveServer, image: bytes) -> None:
    """The slot is free: an upload on a new connection is read and answered."""
    with connect(server.port) as sock:
        head, body, _ = exchange(sock, _upload(len(image)) + image)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"


@pytest.mark.parametrize("expect", [False, True], ids=["with-its-length", "expect-100-continue"])
def test_an_upload_past_the_limit_is_refused_while_the_first_is_still_sending(
    one_upload: LiveServer, images: Path, expect: bool
) -> None:
    """Refused before its body is read: one sent with its length is read on by uvicorn and the connection
    serves on; one that holds its body back for `100 Continue` is never asked for it (the 503 is the first
    thing on the connection) and the connection closes."""
    image = (images / "cat.bmp").read_bytes()
    with connect(one_upload.port) as first, connect(one_upload.port) as second:
        buffered = _hold_the_slot(first, image)

        head, body, _ = exchange(second, _upload(len(image), expect) + (b"" if expect else image))
        assert head.startswith(b"HTTP/1.1 503"), head
        assert b"\r\ncontent-type: application/json" in head.lower() and b"\r\nretry-after: " in head.lower()
        assert (b"\r\nconnection: close" in head.lower()) == expect
        error = json.loads(body)["error"]
        assert error["code"] == "overloaded" and "uploads being read at once: 1 (limit 1)" in error["message"]
        if expect:
            assert second.recv(65536) == b""  # closed: the body it held back is not read as a request

        head, body, _ = exchange(first, image[len(image) // 2 :], buffered)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"

        if not expect:  # the slot is free again: the next upload, on the connection kept, is read
            head, body, _ = exchange(second, _upload(len(image)) + image)
            assert head.startswith(b"HTTP/1.1 200"), head
    if expect:
        _assert_the_next_upload_is_read(one_upload, image)


def test_an_upload_refused_as_too_large_gives_its_slot_back(one_upload: LiveServer, images: Path) -> None:
    too_large = (images / "grace_hopper.bmp").read_bytes()
    assert len(too_large) > LIMIT
    with connect(one_upload.port) as sock:
        head, body, _ = exchange(sock, _upload(len(too_large)) + too_large)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    _assert_the_next_upload_is_read(one_upload, (images / "cat.bmp").read_bytes())


def test_an_upload_whose_client_is_gone_gives_its_slot_back(one_upload: LiveServer, images: Path) -> None:
    image = (images / "cat.bmp").read_bytes()
    with one_upload.client() as client:

        def gone() -> float:  # counted once the upload's error has left the slot: then it is free
            return metric(client.get("/metrics").text, "mva_requests_total", route="/classify", status="499")

        gone_before = gone()
        with connect(one_upload.port) as sock:
            _hold_the_slot(sock, image)
        deadline = time.monotonic() + 10
        while gone() == gone_before:
            assert time.monotonic() < deadline, "the disconnect was never counted"
            time.sleep(0.05)
    _assert_the_next_upload_is_read(one_upload, image)


def test_a_stalled_upload_gives_its_slot_back_with_its_408(one_upload: LiveServer, images: Path) -> None:
    image = (images / "cat.bmp").read_bytes()
    with connect(one_upload.port) as sock:
        buffered = _hold_the_slot(sock, image)
        head, body, _ = response(sock, buffered)  # after MVA_RECEIVE_TIMEOUT_S of silence
    assert head.startswith(b"HTTP/1.1 408"), head
    assert json.loads(body)["error"]["code"] == "request_timeout"
    _assert_the_next_upload_is_read(one_upload, image)
