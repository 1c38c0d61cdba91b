"""service/api/inference.py: errors after the request's timer started, through a real server; in-process,
the real app over ASGI messages (what uvicorn hands it), so that the test decides when the client hangs
up. Batching through real servers: tests/test_batching.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.api.app import create_app
from service.api.inference import _infer_batched
from service.api.state import AppState
from service.batching import MicroBatcher
from service.engines.base import Runner
from service.engines.registry import resolve
from service.errors import Overloaded
from service.manifest import ModelSpec
from service.pipeline import prepare
from service.settings import EngineSettings, ServerSettings
from service.timing import StageTimer
from tests.conftest import LiveServer, server_timing
from tests.inprocess import GatedRunner, cores_held, serving
from tests.pictures import noise_jpeg
from tests.raw_http import connect, read_to_close

LIMIT = 1_000_000  # the upload limit of the module's server


@pytest.fixture(scope="module")
def one_core(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """One core, a queue timeout shorter than one scalar inference, a small upload limit."""
    return start_module_server(
        inference_cores="1",
        queue_timeout_s="0.05",
        max_upload_bytes=str(LIMIT),
        warm_models='["mobilenet_v2"]',
    )


@pytest.fixture
def one_core_client(one_core: LiveServer) -> Iterator[httpx.Client]:
    with one_core.client() as client:
        yield client


def test_a_corrupt_image_reports_the_stages_up_to_its_decode(one_core_client: httpx.Client) -> None:
    """Server-Timing came only with a success: a request that failed after spending time had none."""
    response = one_core_client.post("/classify", files={"image": noise_jpeg()[:1500]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "corrupt_image"
    timing = server_timing(response)
    assert list(timing) == ["receive", "queue", "load", "decode", "total"]  # never preprocessed
    assert timing["total"] >= timing["decode"] > 0


def test_an_upload_cut_off_at_the_limit_reports_its_reading(one_core_client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(2 * LIMIT // 65536):
            yield b"\0" * 65536

    response = one_core_client.post("/detect", content=chunks(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    timing = server_timing(response)
    assert list(timing) == ["receive", "total"]
    assert timing["total"] >= timing["receive"] > 0


def test_a_request_that_waited_too_long_for_a_core_reports_its_queueing(
    one_core: LiveServer, images: Path
) -> None:
    data = (images / "cat.bmp").read_bytes()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=one_core.url, timeout=60) as client:
            # scalar reference kernels take ~130 ms on the one core: the queue timeout is 50 ms
            calls = [client.post("/classify?preset=scalar", files={"image": data}) for _ in range(4)]
            return await asyncio.gather(*calls)

    late = [r for r in asyncio.run(burst()) if r.status_code == 503]
    assert late and {r.json()["error"]["code"] for r in late} == {"overloaded"}
    for response in late:
        assert response.headers["retry-after"]  # the error's own headers stay
        timing = server_timing(response)
        assert list(timing) == ["receive", "queue", "total"]  # never ran
        assert timing["total"] >= timing["queue"] > 0


def test_a_batched_request_whose_client_left_while_it_waited_for_a_core_is_not_postprocessed(
    images: Path,
) -> None:
    """Micro-batching, one core: once its batch has run, an annotated /detect asks for the core again to
    draw and encode its picture, but a job of the test has taken it. The client hangs up meanwhile:
    499 at once, and the picture is never made. Before, that hop watched no connection: the request
    held its admission slot until its queue timeout (503), or, given the core, made a picture for
    nobody."""
    app = create_app(
        ServerSettings(warm_models=[], inference_cores=1, batch_window_ms=1000, queue_timeout_s=3)
    )
    state = app.state.mva
    state.warm_up()  # no model to warm: ready (the lifespan that would start it is not run here)
    release = threading.Event()
    holder: list[asyncio.Future[bool]] = []
    left = asyncio.Event()  # the client has hung up

    def batch_ran(size: int) -> None:
        # on the event loop, before the batch's members get their rows: the test's job reaches the
        # pool ahead of the request's postprocessing, and the client leaves
        holder.append(asyncio.ensure_future(state.pool.execute(release.wait, 1, StageTimer())))
        left.set()

    state.batcher = MicroBatcher(state.pool, window_ms=1000, max_batch=1, observe=batch_ran)
    body: list[dict[str, Any]] = [
        {"type": "http.request", "body": (images / "face.jpg").read_bytes(), "more_body": False}
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if body:
            return body.pop()
        await left.wait()
        return {"type": "http.disconnect"}  # what uvicorn answers once the client has hung up

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/detect",
        "raw_path": b"/detect",
        "root_path": "",
        "query_string": b"annotate=true",
        "headers": [(b"host", b"test"), (b"content-type", b"image/jpeg")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def main() -> None:
        try:
            await app(scope, receive, send)
        finally:
            release.set()
            await asyncio.gather(*holder)

    try:
        asyncio.run(main())
    finally:
        release.set()
        state.pool.shutdown()
    assert len(holder) == 1  # the batch ran
    start = next(message for message in sent if message["type"] == "http.response.start")
    assert start["status"] == 499


def test_a_full_server_refuses_before_it_asks_for_the_upload(images: Path) -> None:
    """MVA_MAX_PENDING=1, taken by a request waiting for the one core (held by a job of the test): the
    next, which holds its body back for `100 Continue`, gets its 503 at once, without being asked for
    the body it would only have been refused after (and the connection closes: the body is not read)."""
    app = create_app(ServerSettings(warm_models=[], inference_cores=1, max_pending=1, queue_timeout_s=120))
    state = app.state.mva
    data = (images / "cat.bmp").read_bytes()
    with serving(app) as url, cores_held(state) as release:
        port = int(url.rsplit(":", 1)[1])
        with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(1) as waiting:
            first = waiting.submit(client.post, "/classify", files={"image": data})
            while state.pool.pending < 1:  # the first request is in, waiting for the core
                assert not first.done(), first.result()
                time.sleep(0.01)
            with connect(port) as sock:
                sock.sendall(
                    b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
                    + f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode()
                )
                reply = read_to_close(sock)
            release.set()
            answered = first.result()
    # the request that took the one place is served once the core frees up
    assert answered.status_code == 200, answered.text
    assert answered.json()["predictions"][0]["label"] == "Egyptian cat"
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), reply[:200]  # not "100 Continue"
    assert b"\r\nretry-after: " in head.lower() and b"\r\nconnection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "overloaded"


def one_core_batching(
    max_batch: int, queue_timeout_s: float
) -> tuple[AppState, list[int], ModelSpec, EngineSettings]:
    """An app (not served) with one inference core and a 1 s batching window; the sizes of the engine
    calls its batcher makes are in the list; MobileNetV2 and the default settings resolved for it."""
    settings = ServerSettings(
        warm_models=[],
        inference_cores=1,
        batch_window_ms=1000,
        max_batch=max_batch,
        queue_timeout_s=queue_timeout_s,
    )
    state = create_app(settings).state.mva
    engine_calls: list[int] = []
    state.batcher = MicroBatcher(state.pool, window_ms=1000, max_batch=max_batch, observe=engine_calls.append)
    spec = state.manifest.get("mobilenet_v2")
    return state, engine_calls, spec, resolve(spec, EngineSettings())


def test_a_batched_request_waits_for_cores_within_one_queue_allowance_over_its_hops(images: Path) -> None:
    """Micro-batching (a window of at most 2), one core, MVA_QUEUE_TIMEOUT_S 2 s. A request waits 1.2 s
    for the core (held by a job of the test) before its decode; then its batch, full with a second
    member, waits behind another job of the test. The request has the 0.8 s left of its allowance there,
    not a fresh 2 s: it gets 503 while that job holds the core, and once the core is free the batch runs
    for the other member, who joined with a whole allowance. Before, each hop had the whole timeout: the
    request waited on until the batch's own deadline (2 s), and the batch got 503 with it."""
    state, engine_calls, spec, resolved = one_core_batching(max_batch=2, queue_timeout_s=2)
    runner = state.registry.get(spec, resolved)  # built now: its first use would not be waiting
    data = (images / "cat.bmp").read_bytes()
    other_pixels = prepare((images / "bird.bmp").read_bytes(), spec.input, 10**8, StageTimer())[1].pixels
    decoding, decode = threading.Event(), threading.Event()

    def image_and_runner() -> tuple[bytes, Runner]:
        decoding.set()
        decode.wait(30)  # until the test's second job and the other member are in
        return data, runner

    async def never_left() -> None:
        await asyncio.Event().wait()

    async def main(first_release: threading.Event) -> list[object]:
        second_release = threading.Event()
        request = asyncio.ensure_future(
            _infer_batched(state, spec, resolved, image_and_runner, repr, StageTimer(), False, never_left)
        )
        await asyncio.sleep(1.2)
        first_release.set()
        assert await asyncio.to_thread(decoding.wait, 30)  # it has the core, after 1.2 s of its 2
        second = asyncio.ensure_future(
            state.pool.execute(lambda: second_release.wait(60), 1, StageTimer(), timeout_s=60)
        )
        other = asyncio.ensure_future(state.batcher.run(runner, 1, other_pixels, StageTimer()))
        # both tasks take their first step now (asyncio runs ready tasks in order): the job is in the
        # pool's queue, ahead of the batch's, and the other member has opened the batch
        await asyncio.sleep(0)
        decode.set()
        try:
            await asyncio.wait([request], timeout=10)  # its 0.8 s left, not 2 s
        finally:
            second_release.set()
        return await asyncio.gather(
            request, asyncio.wait_for(other, 30), asyncio.wait_for(second, 30), return_exceptions=True
        )

    with cores_held(state) as first_release:
        request, other, second = asyncio.run(main(first_release))
    assert isinstance(request, Overloaded)
    assert second is True
    outputs, size = other  # type: ignore[misc]
    np.testing.assert_array_equal(outputs[0], runner.run(other_pixels)[0])
    assert size == 2 and engine_calls == [2]  # the request's row ran too (the rows were fixed), unread


def test_a_batched_request_with_nothing_left_of_its_allowance_gets_503_before_its_next_hop(
    images: Path,
) -> None:
    """A request whose waits so far (its timer's `queue`) used its whole MVA_QUEUE_TIMEOUT_S gets 503 at
    once: its next hop is never submitted."""
    app = create_app(ServerSettings(warm_models=[], inference_cores=1, batch_queued=True, queue_timeout_s=2))
    state = app.state.mva
    spec = state.manifest.get("mobilenet_v2")
    called: list[str] = []

    def image_and_runner() -> tuple[bytes, Runner]:
        called.append("prepare")
        raise AssertionError("the hop ran")

    timer = StageTimer()
    timer.add("queue", 2000)
    gone = asyncio.Event().wait
    request = _infer_batched(
        state, spec, resolve(spec, EngineSettings()), image_and_runner, repr, timer, False, gone
    )
    try:
        with pytest.raises(Overloaded, match=r"waited more than 2 s"):
            asyncio.run(request)
    finally:
        state.pool.shutdown()
    assert called == []


def test_a_batched_request_whose_engine_call_ran_is_postprocessed_after_its_allowance(images: Path) -> None:
    """One core, MVA_QUEUE_TIMEOUT_S 4 s, of which the request has used 3 s (its timer says so) when it
    arrives; its decode and its batch get the core at once. While its engine call runs, a job of the test
    goes in line ahead of its postprocessing and holds the core 2 s: more than the 1 s left of its
    allowance, less than a queue timeout. The engine has run for it, so it gets its answer, not a 503
    that would throw the decode and the engine call away."""
    state, engine_calls, spec, resolved = one_core_batching(max_batch=1, queue_timeout_s=4)
    gated = GatedRunner(state.registry.get(spec, resolved))
    data = (images / "cat.bmp").read_bytes()

    def image_and_runner() -> tuple[bytes, Runner]:
        return data, gated  # type: ignore[return-value]

    async def main() -> tuple[object, object]:
        timer = StageTimer()
        timer.add("queue", 3000)
        request = asyncio.ensure_future(
            _infer_batched(state, spec, resolved, image_and_runner, repr, timer, False, asyncio.Event().wait)
        )
        try:
            assert await asyncio.to_thread(gated.started.wait, 30)  # its batch has the core: the engine runs
            holder = asyncio.ensure_future(state.pool.execute(lambda: time.sleep(2), 1, StageTimer()))
            await asyncio.sleep(0)  # the holder's job is in the pool's line now, ahead of the postprocessing
        finally:
            gated.gate.set()
        return tuple(await asyncio.gather(asyncio.wait_for(request, 30), holder, return_exceptions=True))

    try:
        answer, _ = asyncio.run(main())
    finally:
        state.pool.shutdown()
    assert not isinstance(answer, BaseException), answer
    assert answer.batch_size == 1 and engine_calls == [1]  # type: ignore[attr-defined]
    assert answer.timer.ms["queue"] > 4000  # it waited past its allowance, for postprocessing only  # type: ignore[attr-defined]
