"""The saturation load generator: raw keep-alive HTTP/1.1 against the real service."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from pathlib import Path

import pytest

from service.bench.load import LoadFailed, http_load, read_response, request_bytes, thread_load
from tests.conftest import LiveServer


def test_request_bytes_is_a_complete_http_11_post() -> None:
    raw = request_bytes("127.0.0.1", 8000, "/classify", {"top_k": "1"}, b"JPEG", {"x-api-key": "k"})
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /classify?top_k=1 HTTP/1.1",
        b"host: 127.0.0.1:8000",
        b"content-length: 4",
        b"x-api-key: k",
    ]
    assert body == b"JPEG"


def test_one_request_on_a_raw_connection_gets_the_services_answer(server: LiveServer, images: Path) -> None:
    async def one() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        image = (images / "cat.bmp").read_bytes()
        writer.write(
            request_bytes(
                "127.0.0.1", server.port, "/classify", {"top_k": "1"}, image, {"content-type": "image/bmp"}
            )
        )
        answer = await read_response(reader)
        writer.close()
        return answer

    status, body = asyncio.run(one())
    assert status == 200
    assert json.loads(body)["predictions"][0]["label"] == "Egyptian cat"


def test_http_load_counts_answers_and_names_statuses_when_none_succeeds(
    server: LiveServer, images: Path
) -> None:
    image = (images / "cat.bmp").read_bytes()
    ok = http_load(server.url, "/classify", {}, image, "image/bmp", concurrency=2, seconds=1.0, warmup_s=0.2)
    assert ok.ok > 5 and ok.failed == 0 and ok.failures == {}
    assert ok.throughput_rps > 0 and ok.latency.p50_ms > 0
    with pytest.raises(LoadFailed, match=r"failures by HTTP status: \{422: \d+\}"):
        http_load(server.url, "/classify", {"top_k": "0"}, image, "image/bmp", 2, seconds=0.5, warmup_s=0)


def test_thread_load_runs_the_call_from_several_threads() -> None:
    callers: set[int] = set()

    def call() -> int:
        callers.add(threading.get_ident())
        return sum(range(1000))

    result = thread_load(call, concurrency=2, seconds=0.2, warmup_s=0.05)
    assert len(callers) == 2 and threading.get_ident() not in callers
    assert result.ok > 0 and result.failed == 0


def test_a_caller_that_raises_fails_the_thread_load() -> None:
    """One thread's call raising ended that thread alone: the other's calls came back as the figure,
    as if one caller had been asked for."""
    made = itertools.count()

    def call() -> None:
        if next(made) == 20:
            raise RuntimeError("the runner broke")
        time.sleep(0.001)

    with pytest.raises(LoadFailed, match="a caller failed: RuntimeError: the runner broke"):
        thread_load(call, concurrency=2, seconds=1.0, warmup_s=0.0)


def test_thread_load_throughput_is_the_requests_started_in_the_window_over_the_window() -> None:
    """A call of 0.15 s from 1 thread over a 0.5 s window: 4 calls start in it (at 0, 0.15, 0.3, 0.45 s),
    8/s. The drain (the last call, ending at 0.6 s) is no part of the window: dividing by it too gave
    6.7/s."""
    result = thread_load(lambda: time.sleep(0.15), concurrency=1, seconds=0.5, warmup_s=0.0)
    # 4 on an idle host; sleeps that overrun (a busy one) may push the 4th out: never more
    assert 1 <= result.ok <= 4
    assert result.seconds == 0.5 and result.throughput_rps == round(result.ok / 0.5, 1)


def test_http_load_throughput_is_over_the_window(server: LiveServer, images: Path) -> None:
    image = (images / "cat.bmp").read_bytes()
    result = http_load(server.url, "/classify", {}, image, "image/bmp", 2, seconds=0.5, warmup_s=0.2)
    assert result.seconds == 0.5 and result.throughput_rps == round(result.ok / 0.5, 1)
