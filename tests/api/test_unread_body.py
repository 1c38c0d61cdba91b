"""service/api/unread_body.py through a real server: an answer given before an `Expect: 100-continue` body
was asked for closes the connection, so the client's next request is never read as that body; so does
one given before a body that keeps coming was read to its end, so the server does not go on reading it;
an answer that read the body keeps the connection. Played by a socket: httpx never sends the
expectation, and stops sending once it has an answer."""

from __future__ import annotations

import json
import select
import socket
from pathlib import Path

import pytest

from service.api.app import create_app
from service.settings import ServerSettings
from tests.conftest import API_KEY, LiveServer
from tests.inprocess import serving
from tests.raw_http import connect, exchange, read_head, read_to_close

# `guarded` wants an API key (MVA_API_KEY): a request without one gets its 401 before its body is read
REFUSED_BEFORE_THE_BODY = [
    ("server", "model=nope", 404, "unknown_model"),
    ("server", "top_k=0", 422, "invalid_parameter"),
    ("guarded", "top_k=1", 401, "unauthorized"),
]
KEY = {"x-api-key": API_KEY}  # for the request that follows, which the guarded server then serves


def _post(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(("served", "query", "status", "code"), REFUSED_BEFORE_THE_BODY)
def test_an_answer_before_the_body_closes_the_connection(
    served: str, images: Path, query: str, status: int, code: str, request: pytest.FixtureRequest
) -> None:
    """No `100 Continue` is sent (the answer is the first thing on the connection), and it closes."""
    server: LiveServer = request.getfixturevalue(served)
    image = (images / "cat.bmp").read_bytes()
    with connect(server.port) as sock:
        # the body waits for "100 Continue"
        head, body, _ = exchange(sock, _post(f"/classify?{query}", len(image)))
        assert head.startswith(f"HTTP/1.1 {status}".encode()), head
        assert b"\r\nconnection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == code
        assert sock.recv(65536) == b""  # closed: nothing left to misread as the owed body
    with server.client() as client:
        response = client.post("/classify", files={"image": image}, headers=KEY)
    assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "Egyptian cat"


def test_an_unexpected_error_before_the_body_closes_the_connection() -> None:
    """The 500 is sent by Starlette's ServerErrorMiddleware, outside every middleware added to the app:
    the close has to sit outside it too, or the 500 kept the connection and uvicorn read the rest."""
    app = create_app(ServerSettings(warm_models=[]))

    @app.post("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug, before the body was read")

    with serving(app) as url, connect(int(url.rsplit(":", 1)[1])) as sock:
        head, body, _ = exchange(sock, _post("/boom", 1000))  # the body waits for "100 Continue"
        assert head.startswith(b"HTTP/1.1 500"), head
        assert b"\r\nconnection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "internal_error"
        assert sock.recv(65536) == b""


def test_a_body_that_was_asked_for_keeps_the_connection(server: LiveServer, images: Path) -> None:
    image = (images / "cat.bmp").read_bytes()
    with connect(server.port) as sock:
        rest = b""
        for _ in range(2):  # the same connection twice
            sock.sendall(_post("/classify?top_k=1", len(image)))
            rest = read_head(sock, rest)
            assert rest.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), rest
            head, body, rest = exchange(sock, image, rest.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
            assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower()
            assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"


@pytest.mark.parametrize(("served", "query", "status", "code"), REFUSED_BEFORE_THE_BODY)
def test_an_answer_before_a_body_of_declared_length_keeps_the_connection(
    served: str, images: Path, query: str, status: int, code: str, request: pytest.FixtureRequest
) -> None:
    """A body within the upload limit, sent whole with its length (as nginx sends every body): uvicorn
    reads the rest and the connection serves on. Closed with the body unread, the kernel reset it, and
    nginx answered an early 503 overloaded with its own 503 (tests/deploy/test_compose_stack.py)."""
    server: LiveServer = request.getfixturevalue(served)
    image = (images / "cat.bmp").read_bytes()
    head = "POST /classify?{} HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n{}" + (
        f"Content-Length: {len(image)}\r\n\r\n"
    )
    with connect(server.port) as sock:
        response_head, body, rest = exchange(sock, head.format(query, "").encode() + image)
        assert response_head.startswith(f"HTTP/1.1 {status}".encode()), response_head
        assert b"connection: close" not in response_head.lower()
        assert json.loads(body)["error"]["code"] == code
        # the same connection
        keyed = head.format("top_k=1", f"X-API-Key: {API_KEY}\r\n").encode()
        response_head, body, _ = exchange(sock, keyed + image, rest)
        assert response_head.startswith(b"HTTP/1.1 200"), response_head
        assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"


def test_a_body_just_over_the_limit_is_refused_and_read_so_the_connection_serves_on(
    server: LiveServer, images: Path
) -> None:
    """Refused from its declared length, before it is read: uvicorn reads it to its end and keeps the
    connection. Closed with it unread, nginx still sending it got a reset and answered its own 503."""
    too_large = b"\xff" * (10 * 1024 * 1024 + 1)
    image = (images / "cat.bmp").read_bytes()
    head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n"
    with connect(server.port) as sock:
        response_head, body, rest = exchange(sock, head.format(len(too_large)).encode() + too_large)
        assert response_head.startswith(b"HTTP/1.1 413"), response_head
        assert b"connection: close" not in response_head.lower()
        assert json.loads(body)["error"]["code"] == "payload_too_large"
        bmp = head.format(len(image)).encode().replace(b"image/jpeg", b"image/bmp") + image
        response_head, body, _ = exchange(sock, bmp, rest)
        assert response_head.startswith(b"HTTP/1.1 200"), response_head
        assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"


@pytest.mark.parametrize(
    "fields",
    [b"Content-Length: 0 \t\r\n", b"Expect: 100-continue\r\nContent-Length: 0\r\n"],
    ids=["whitespace", "expect"],
)
def test_a_content_length_of_0_is_no_body(server: LiveServer, fields: bytes) -> None:
    """RFC 9112 5.1; httptools, the default parser, hands `0 ` on, which counted as a body: the answer
    before it closed the connection, and the upload's own check took it for a body of the wrong type
    (415) rather than none (422 missing_image). Sent by a socket: httpx refuses to send such a header.
    With `Expect: 100-continue` no body is withheld either, as none follows."""
    with connect(server.port) as sock:
        for _ in range(2):  # the same connection twice
            empty = b"POST /classify HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
            head, body, _ = exchange(sock, empty)
            assert head.startswith(b"HTTP/1.1 422") and b"\r\nconnection: close" not in head.lower(), head
            assert json.loads(body)["error"]["code"] == "missing_image"


CHUNK = b"\0" * 65536


def _stream_until_closed(sock: socket.socket, head: bytes, most: int) -> tuple[bytes, int]:
    """Sends `head`, then a chunked body, without end, until the server closes the connection or `most`
    bytes of it went out. Returns what the server answered meanwhile and the body's bytes sent."""
    sock.sendall(head)
    frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
    reply, sent = b"", 0
    while sent < most:
        readable, writable, _ = select.select([sock], [sock], [], 10)
        assert readable or writable, f"the connection stalled, neither closed nor open, after {sent} bytes"
        try:
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
            else:
                sock.sendall(frame)
                sent += len(CHUNK)
        except (BrokenPipeError, ConnectionResetError):  # closed, with the rest of our body unread
            # the answer may have come while we were sending: still there to read before the reset
            return reply + read_to_close(sock, reset_ends_it=True), sent
    return reply, sent


@pytest.mark.parametrize(
    ("served", "query", "status", "code"),
    [
        ("server", "top_k=1", 413, "payload_too_large"),
        ("server", "top_k=0", 422, "invalid_parameter"),
        ("guarded", "top_k=1", 401, "unauthorized"),
    ],
)
def test_an_answer_before_a_chunked_body_s_end_stops_reading_it(
    served: str, images: Path, query: str, status: int, code: str, request: pytest.FixtureRequest
) -> None:
    """A body over the limit (the default 10 MiB), or one never read for a bad parameter or a missing API
    key: the server stops at its answer, not when the client stops sending."""
    server: LiveServer = request.getfixturevalue(served)
    limit = 10 * 1024 * 1024
    head = (
        f"POST /classify?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with connect(server.port) as sock:
        reply, sent = _stream_until_closed(sock, head, most=5 * limit)
    assert sent < 5 * limit, f"the server read {sent} bytes of body after its answer"
    response_head, _, body = reply.partition(b"\r\n\r\n")
    assert response_head.startswith(f"HTTP/1.1 {status}".encode()), reply[:300]
    assert b"\r\nconnection: close" in response_head.lower()
    assert json.loads(body)["error"]["code"] == code
    with server.client() as client:
        response = client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()}, headers=KEY)
    assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "Egyptian cat"
