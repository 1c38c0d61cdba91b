"""service/api/expect.py through a real server: an answer given before an `Expect: 100-continue` body was
asked for closes the connection, so the client's next request is never read as that body; an answer
that read the body keeps the connection. Played by a socket: httpx never sends the expectation."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import LiveServer


def _post(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()


def _response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One response off the connection: (head, body, what came after it)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        rest += chunk
    return head, rest[:length], rest[length:]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [("model=nope", 404, "unknown_model"), ("top_k=0", 422, "invalid_parameter")],
)
def test_an_answer_before_the_body_closes_the_connection(
    server: LiveServer, images: Path, query: str, status: int, code: str
) -> None:
    image = (images / "cat.bmp").read_bytes()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(_post(f"/classify?{query}", len(image)))  # the body waits for "100 Continue"
        head, body, _ = _response(sock)
        assert head.startswith(f"HTTP/1.1 {status}".encode()), head
        assert b"\r\nconnection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == code
        assert sock.recv(65536) == b""  # closed: nothing left to misread as the owed body
    with server.client() as client:
        response = client.post("/classify", files={"image": image})
    assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "Egyptian cat"


def test_a_body_that_was_asked_for_keeps_the_connection(server: LiveServer, images: Path) -> None:
    image = (images / "cat.bmp").read_bytes()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        rest = b""
        for _ in range(2):  # the same connection twice
            sock.sendall(_post("/classify?top_k=1", len(image)))
            while b"\r\n\r\n" not in rest:
                rest += sock.recv(65536)
            assert rest.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), rest
            sock.sendall(image)
            head, body, rest = _response(sock, rest.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
            assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower()
            assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"
