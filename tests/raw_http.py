"""HTTP/1.1 by hand on a socket to a server on loopback, for what httpx will not send (a header with
whitespace after its value, `Expect: 100-continue`, a body left half sent) or hides (the connection's
own headers, a second request on the same connection)."""

from __future__ import annotations

import select
import socket

from service.localserver import LOOPBACK


class Closed(ConnectionError):
    """The server closed the connection where a response was due (as a reset is a ConnectionError)."""


def connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=30)


def read_head(sock: socket.socket, buffered: bytes = b"") -> bytes:
    """`buffered` and what follows it on the connection, up to the end of a response's head at least."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed(f"closed before a response: {data!r}")
        data += chunk
    return data


def read_to_close(sock: socket.socket, *, reset_ends_it: bool = False) -> bytes:
    """Everything the server sends on `sock` until it closes the connection. `reset_ends_it`: a reset
    (a server that closed with bytes of ours unread) ends it too, with what arrived before it, instead
    of raising ConnectionResetError."""
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except ConnectionResetError:
        if not reset_ends_it:
            raise
    return reply


def response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One response off the connection: (head, body, what came after it)."""
    head, _, rest = read_head(sock, buffered).partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        rest += chunk
    return head, rest[:length], rest[length:]


def exchange(sock: socket.socket, request: bytes, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """Sends `request` and reads one response: (head, body, what came after it). `buffered`: what the
    connection sent after the previous response."""
    sock.sendall(request)
    return response(sock, buffered)


def trickle(sock: socket.socket, data: bytes, every_s: float) -> bytes:
    """Sends `data` a byte every `every_s` seconds until the server sends something, which it returns
    (the start of a response, or b"" for a close; all of the response if the server closed before the next
    byte could go), or until all of `data` is sent (then b"")."""
    for i in range(len(data)):
        try:
            sock.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):  # it answered and closed while we waited to send:
            return read_to_close(sock, reset_ends_it=True)  # the answer is still there before the reset
        answered, _, _ = select.select([sock], [], [], every_s)
        if answered:
            return sock.recv(65536)
    return b""
