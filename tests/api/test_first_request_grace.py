"""A connection accepted before the shutdown began, whose request comes after: answered, not dropped."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from service.api.first_request_grace import FIRST_REQUEST_GRACE_S
from service.localserver import serve_app
from tests.raw_http import connect, read_to_close


@pytest.mark.parametrize(
    ("workers", "http"),
    [(1, "httptools"), (2, "httptools"), (1, "h11")],
    ids=["1 process", "2 processes", "h11"],
)
def test_a_connection_whose_request_comes_after_the_shutdown_began_is_answered(
    tmp_path: Path, images: Path, workers: int, http: str
) -> None:
    """uvicorn's shutdown closed such a connection at once, as if idle: its client saw it closed with no
    answer. The request here comes 0.3 s into the shutdown, within the grace."""
    data = (images / "cat.bmp").read_bytes()
    log = tmp_path / "server.log"
    env = {"MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_RUN_DIR": str(tmp_path / "run"), "MVA_HTTP": http}
    with serve_app(env, workers=workers, log=log, log_level="info") as (url, process):
        with connect(int(url.rsplit(":", 1)[1])) as sock:
            time.sleep(0.3)  # accepted by a process (its event loop runs while it waits for requests)
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            while "Shutting down" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "Shutting down" in log.read_text()
            time.sleep(0.3)
            sock.sendall(
                f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            reply = read_to_close(sock)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b"Egyptian cat" in reply  # and the connection closed once the grace was over
        assert process.wait(timeout=30) == 0


def test_a_connection_that_sends_nothing_is_closed_after_the_grace(tmp_path: Path) -> None:
    """The grace holds the shutdown no longer than it says: the silent connection is closed then, and
    the server exits."""
    log = tmp_path / "server.log"
    with serve_app({"MVA_WARM_MODELS": "[]"}, log=log, log_level="info") as (url, process):
        with connect(int(url.rsplit(":", 1)[1])) as sock:
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert read_to_close(sock) == b""
            waited = time.monotonic() - started
        assert FIRST_REQUEST_GRACE_S * 0.9 <= waited < FIRST_REQUEST_GRACE_S + 10
        assert process.wait(timeout=30) == 0
