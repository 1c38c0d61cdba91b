"""Opt-in micro-batching, through a real server and in-process with a real runner: concurrent requests
share engine calls, every request still gets its own right answer, and one whose client left does not run."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from service.batching import MicroBatcher
from service.engines.base import Runner
from service.engines.registry import RunnerRegistry, resolve
from service.errors import ClientClosedRequest, Overloaded
from service.inference import InferencePool
from service.manifest import Manifest
from service.pipeline import prepare
from service.settings import EngineSettings
from service.timing import StageTimer
from tests.conftest import LiveServer, metric
from tests.inprocess import GatedRunner
from tests.pictures import drawn

KNOWN = {"grace_hopper.bmp": "military uniform", "cat.bmp": "Egyptian cat", "bird.bmp": "chickadee"}


@pytest.fixture(scope="module")
def batching(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    return start_module_server(
        batch_window_ms="30", max_batch="4", warm_models='["mobilenet_v2", "blazeface_full"]'
    )


def burst(server: LiveServer, calls: list[tuple[str, dict[str, str], bytes]]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *[client.post(path, params=params, files={"image": data}) for path, params, data in calls]
            )

    return asyncio.run(main())


# a burst whose requests reached the batcher more than the window apart (a test process held up on a
# loaded machine) batches nothing, rightly: it is sent again, up to this many times in all
TRIES = 3


def burst_until_batched(
    server: LiveServer,
    calls: list[tuple[str, dict[str, str], bytes]],
    check: Callable[[list[httpx.Response]], None],
) -> int:
    """`calls` at once until two of them shared a batch, up to TRIES bursts; `check` asserts each burst's
    answers. Returns the largest batch."""
    for _ in range(TRIES):
        responses = burst(server, calls)
        check(responses)
        largest = max(r.json()["batch_size"] for r in responses)
        if largest > 1:
            return largest
    pytest.fail(f"no two of {len(calls)} concurrent requests shared a batch in {TRIES} tries")


@pytest.fixture(scope="module")
def queued(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    return start_module_server(batch_queued="true", max_batch="4", warm_models='["mobilenet_v2"]')


@pytest.mark.parametrize("batching_server", ["batching", "queued"])  # a 30 ms window; queued
def test_concurrent_requests_share_a_batch_and_keep_their_answers(
    batching_server: str, images: Path, request: pytest.FixtureRequest
) -> None:
    server: LiveServer = request.getfixturevalue(batching_server)
    names = sorted(KNOWN) * 4

    def each_its_own_answer(responses: list[httpx.Response]) -> None:
        assert all(r.status_code == 200 for r in responses)
        for name, response in zip(names, responses, strict=True):
            assert response.json()["predictions"][0]["label"] == KNOWN[name]

    calls = [("/classify", {}, (images / name).read_bytes()) for name in names]
    assert burst_until_batched(server, calls, each_its_own_answer) <= 4  # never above MVA_MAX_BATCH


def test_detection_in_a_batch(batching: LiveServer, images: Path) -> None:
    data = {"face.jpg": 4, "grace_hopper.bmp": 1, "cat.bmp": 0}
    calls = [("/detect", {"model": "full"}, (images / name).read_bytes()) for name in data for _ in range(2)]
    expected = [count for count in data.values() for _ in range(2)]

    def each_its_own_faces(responses: list[httpx.Response]) -> None:
        assert [len(r.json()["faces"]) for r in responses] == expected

    burst_until_batched(batching, calls, each_its_own_faces)


def test_an_annotated_picture_in_a_batch_shows_the_faces_of_the_json_answer(
    batching: LiveServer, images: Path
) -> None:
    """With batching on, every onnxruntime request takes the batched path, however many share its batch:
    the model runs on the decode the JSON answer's does (face.jpg at a reduced DCT scale); the whole
    picture is decoded afterwards, to draw on."""
    data = (images / "face.jpg").read_bytes()
    json_call, picture_call = {"model": "full"}, {"model": "full", "annotate": "true"}
    responses = burst(batching, [("/detect", json_call, data), ("/detect", picture_call, data)] * 2)
    assert all(r.status_code == 200 for r in responses)
    answers, pictures = responses[0::2], responses[1::2]
    for answer, picture in zip(answers, pictures, strict=True):
        assert picture.headers["x-faces"] == str(len(answer.json()["faces"])) == "4"
        pixels = np.asarray(Image.open(io.BytesIO(picture.content)).convert("RGB"))
        assert int((pixels != drawn(data, answer.json())).any(axis=2).sum()) == 0  # pixels that differ


def test_litert_is_never_batched(batching: LiveServer, images: Path) -> None:
    data = (images / "cat.bmp").read_bytes()
    responses = burst(batching, [("/classify", {"engine": "litert"}, data)] * 4)
    assert [r.json()["batch_size"] for r in responses] == [1, 1, 1, 1]


def test_batching_is_off_by_default(client: httpx.Client, images: Path) -> None:
    assert (
        client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()}).json()["batch_size"] == 1
    )


@pytest.fixture(scope="module")
def long_window(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """A window long enough for the clients of an open batch to leave before it closes."""
    return start_module_server(batch_window_ms="1000", max_batch="8", warm_models='["mobilenet_v2"]')


def test_clients_that_leave_an_open_batch_are_dropped_and_the_one_who_stays_gets_its_own_answer(
    long_window: LiveServer, images: Path
) -> None:
    """Two requests whose clients hang up while they wait in a batch end as 499 and run nowhere; the
    request that joined the batch after them, and stays, gets its own row (the leavers' rows taken out
    before it): one engine call of one image."""
    for _ in range(TRIES):  # a try whose leavers were late is not a verdict: the window closed under them
        if _leave_an_open_batch(long_window, images):
            return
    pytest.fail(f"the scenario's steps did not fit in {LEAVE_WITHIN_S} s in {TRIES} tries")


LEAVE_WITHIN_S = 0.9  # of long_window's 1 s window: the scenario's steps must all fit in it


def _leave_an_open_batch(server: LiveServer, images: Path) -> bool:
    """One try of the scenario above, asserting its outcome; False, with nothing asserted, when the test
    process or the server was too slow for it (not every step seen done within LEAVE_WITHIN_S of the
    leavers' requests going out, so the window may have closed under them)."""
    host, port = server.url.removeprefix("http://").split(":")
    leaving_image = (images / "grace_hopper.bmp").read_bytes()
    request = (
        f"POST /classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/bmp\r\n"
        f"Content-Length: {len(leaving_image)}\r\n\r\n"
    ).encode() + leaving_image
    with server.client() as client:
        before = client.get("/metrics").text

    async def scenario() -> tuple[httpx.Response, bool]:
        """The staying request's answer, and whether each step was seen done in time."""
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:

            async def until_depth(reached: Callable[[float], bool], by: float) -> bool:
                """Until a scrape's mva_queue_depth is `reached`: True if that scrape ended by `by`."""
                while True:
                    seen = reached(metric((await client.get("/metrics")).text, "mva_queue_depth"))
                    if time.monotonic() > by:  # what the scrape saw may be from after the window
                        return False
                    if seen:
                        return True
                    await asyncio.sleep(0.01)

            # the window opens when the first leaver joins its batch, after this: it closes after `by`
            by = time.monotonic() + LEAVE_WITHIN_S
            leaving = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
            for _, writer in leaving:
                writer.write(request)
                await writer.drain()
            in_time = await until_depth(lambda depth: depth >= 2, by)
            staying = asyncio.create_task(
                client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()})
            )
            in_time = in_time and await until_depth(lambda depth: depth >= 3, by)
            for _, writer in leaving:
                writer.close()
            # the server saw both go (a leaver that leaves is no longer admitted): only the staying one left
            in_time = in_time and await until_depth(lambda depth: depth <= 1, by)
            return await staying, in_time

    stayed, in_time = asyncio.run(scenario())
    with server.client() as client:

        def grew(name: str, **labels: str) -> float:
            return metric(client.get("/metrics").text, name, **labels) - metric(before, name, **labels)

        def classified() -> float:  # over every status: a request is counted after its answer
            statuses = ("200", "499")
            return sum(grew("mva_requests_total", route="/classify", status=status) for status in statuses)

        deadline = time.monotonic() + 30
        while classified() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        if not in_time:  # its requests all counted, whatever became of them: the next try starts clean
            return False
        assert stayed.status_code == 200
        assert stayed.json()["predictions"][0]["label"] == "Egyptian cat"
        assert stayed.json()["batch_size"] == 1
        assert grew("mva_requests_total", route="/classify", status="499") == 2
        assert grew("mva_inferences_total", model="mobilenet_v2", engine="onnxruntime") == 1
        assert grew("mva_batch_size_count") == 1 and grew("mva_batch_size_sum") == 1
    return True


PixelsOf = Callable[[str], np.ndarray]


@pytest.fixture(scope="module")
def runner(registry: RunnerRegistry, manifest: Manifest) -> Runner:
    """MobileNetV2 on onnxruntime, the default settings: the engine the in-process tests batch on."""
    spec = manifest.get("mobilenet_v2")
    return registry.get(spec, resolve(spec, EngineSettings()))


@pytest.fixture(scope="module")
def pixels_of(manifest: Manifest, images: Path) -> PixelsOf:
    """A test image's model input for MobileNetV2, by file name."""
    spec = manifest.get("mobilenet_v2")
    return lambda name: prepare((images / name).read_bytes(), spec.input, 50_000_000, StageTimer())[1].pixels


class Departure:
    """A request's client that goes away when told: `left` (a ClientLeft) returns once `leave()` is
    called."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()

    async def left(self) -> None:
        await self._gone.wait()

    def leave(self) -> None:
        self._gone.set()


@asynccontextmanager
async def one_core_held(pool: InferencePool) -> AsyncIterator[None]:
    """One of `pool`'s cores held by a job (submitted first) while the block runs, given back after it."""
    release = threading.Event()
    busy = asyncio.ensure_future(pool.run(release.wait, 1, StageTimer()))
    try:
        yield
    finally:
        release.set()
        await busy


def counting_batcher(pool: InferencePool, window_ms: float, max_batch: int) -> tuple[MicroBatcher, list[int]]:
    """A batcher on `pool`, and the size of each engine call it makes, in order."""
    engine_calls: list[int] = []
    return MicroBatcher(pool, window_ms, max_batch, observe=engine_calls.append), engine_calls


def test_a_closed_batch_all_of_whose_clients_left_before_it_had_a_core_never_runs(
    runner: Runner, pixels_of: PixelsOf
) -> None:
    """The batch is full (closed) and waits behind a job that holds the only core; both its clients
    leave (499 at once); once the core is free the batch's engine call does not run."""
    cat = pixels_of("cat.bmp")
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms=1000, max_batch=2)

    async def main() -> list[object]:
        client = Departure()
        async with one_core_held(pool):
            members = [batcher.run(runner, 1, cat, StageTimer(), client.left) for _ in range(2)]
            waiting = asyncio.gather(*(asyncio.wait_for(m, 5) for m in members), return_exceptions=True)
            await asyncio.sleep(0.05)  # the second member filled the batch, whose engine job now waits
            client.leave()
            outcomes = await waiting
        # one pool thread, first in first out: once this has run, so has (or not) the batch's job
        await pool.run(lambda: None, 1, StageTimer())
        return outcomes

    outcomes = asyncio.run(main())
    pool.shutdown()
    assert [type(outcome) for outcome in outcomes] == [ClientClosedRequest, ClientClosedRequest]
    assert engine_calls == []


def test_queued_batching_runs_a_lone_request_unbatched(queued: LiveServer, images: Path) -> None:
    """One client at a time: no other request is in the pool, so none goes through a batch (the
    batch-size histogram does not move) and each is answered as without batching."""
    with queued.client() as client:
        before = metric(client.get("/metrics").text, "mva_batch_size_count")
        for name in KNOWN:
            answer = client.post("/classify", files={"image": (images / name).read_bytes()}).json()
            assert (answer["predictions"][0]["label"], answer["batch_size"]) == (KNOWN[name], 1)
        assert metric(client.get("/metrics").text, "mva_batch_size_count") == before


def test_a_queued_batch_is_whoever_joined_while_it_waited_for_cores(
    runner: Runner, pixels_of: PixelsOf
) -> None:
    """The only core is held; four requests come (MVA_MAX_BATCH 3) and one of them leaves before the
    core is free. Once it is: an engine call of the two who stayed in the first batch, one of the
    request that found it full; each gets the row of its own image, as alone."""
    names = ["cat.bmp", "grace_hopper.bmp", "bird.bmp", "cat.bmp"]
    pixels = [pixels_of(name) for name in names]
    alone = [runner.run(p)[0] for p in pixels]
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms=0, max_batch=3)

    async def main() -> list[object]:
        second = Departure()
        async with one_core_held(pool):
            members = [
                asyncio.ensure_future(
                    batcher.run(runner, 1, p, StageTimer(), second.left if i == 1 else None)
                )
                for i, p in enumerate(pixels)
            ]
            await asyncio.sleep(0)  # all four join: three the first batch, one a second
            second.leave()
            await asyncio.wait([members[1]])  # it left (its row is out) before the core is free
        return await asyncio.gather(*(asyncio.wait_for(m, 30) for m in members), return_exceptions=True)

    outcomes = asyncio.run(main())
    pool.shutdown()
    assert isinstance(outcomes[1], ClientClosedRequest)
    for i in (0, 2, 3):
        outputs, size = outcomes[i]  # type: ignore[misc]
        assert size == (2 if i < 3 else 1)
        np.testing.assert_array_equal(outputs[0], alone[i])
    assert engine_calls == [2, 1]


def test_a_request_arriving_while_a_queued_batch_runs_opens_the_next_batch(
    runner: Runner, pixels_of: PixelsOf
) -> None:
    pixels = [pixels_of(name) for name in ("cat.bmp", "bird.bmp", "grace_hopper.bmp")]
    gated = GatedRunner(runner)
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms=0, max_batch=8)

    async def main() -> list[tuple[list[np.ndarray], int]]:
        try:
            first = asyncio.ensure_future(batcher.run(gated, 1, pixels[0], StageTimer()))  # type: ignore[arg-type]
            assert await asyncio.to_thread(gated.started.wait, 30)  # its batch has the core and runs
            later = [asyncio.ensure_future(batcher.run(gated, 1, p, StageTimer())) for p in pixels[1:]]  # type: ignore[arg-type]
            await asyncio.sleep(0)
        finally:
            gated.gate.set()
        return await asyncio.gather(*(asyncio.wait_for(m, 30) for m in [first, *later]))

    outcomes = asyncio.run(main())
    pool.shutdown()
    assert engine_calls == [1, 2]
    assert [size for _, size in outcomes] == [1, 2, 2]
    for (outputs, _), p in zip(outcomes, pixels, strict=True):
        np.testing.assert_array_equal(outputs[0], runner.run(p)[0])


def test_a_request_does_not_join_a_queued_batch_that_has_waited_half_the_queue_timeout(
    runner: Runner, pixels_of: PixelsOf
) -> None:
    """The batch's deadline counts from its first member: the first request, whose batch waited its
    whole MVA_QUEUE_TIMEOUT_S (1 s) for the held core, gets Overloaded; one that came 0.6 s later opened
    a batch of its own, and runs once the core is free (just after the first's deadline), inside its own
    timeout."""
    cat = pixels_of("cat.bmp")
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=1.0)
    batcher, engine_calls = counting_batcher(pool, window_ms=0, max_batch=8)

    async def main() -> list[object]:
        async with one_core_held(pool):
            first = asyncio.ensure_future(batcher.run(runner, 1, cat, StageTimer()))
            await asyncio.sleep(0.6)
            later = asyncio.ensure_future(batcher.run(runner, 1, cat, StageTimer()))
            await asyncio.wait([first])  # its batch's deadline passed: Overloaded
        return await asyncio.gather(first, asyncio.wait_for(later, 30), return_exceptions=True)

    first, later = asyncio.run(main())
    pool.shutdown()
    assert isinstance(first, Overloaded)
    assert later[1] == 1  # type: ignore[index]
    assert engine_calls == [1]


@pytest.mark.parametrize(("window_ms", "max_batch"), [(0, 8), (1000, 1)], ids=["queued", "window, closed"])
def test_a_batch_all_of_whose_clients_left_gives_its_place_in_line_up(
    runner: Runner, pixels_of: PixelsOf, window_ms: float, max_batch: int
) -> None:
    """2 cores, one held; a 2-thread batch waits in line for both (queued, or a window batch closed
    because it is full); its only client leaves. The line is first come, first served, so the batch
    would keep a 1-core job waiting behind it until the held core is free: it gives its place up
    instead, and the job runs on the free core."""
    cat = pixels_of("cat.bmp")
    pool = InferencePool(cores=2, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms, max_batch)

    async def main() -> tuple[object, str]:
        client = Departure()
        async with one_core_held(pool):
            member = asyncio.ensure_future(batcher.run(runner, 2, cat, StageTimer(), client.left))
            await asyncio.sleep(0.1)  # its batch's job is in line for 2 cores
            client.leave()
            left = (await asyncio.gather(member, return_exceptions=True))[0]
            ran = await asyncio.wait_for(pool.run(lambda: "ran", 1, StageTimer()), 10)
        return left, ran

    left, ran = asyncio.run(main())
    pool.shutdown()
    assert isinstance(left, ClientClosedRequest)
    assert ran == "ran"
    assert engine_calls == []


BATCHING_MODES = pytest.mark.parametrize(
    ("window_ms", "max_batch"), [(0, 8), (1000, 2)], ids=["queued", "window, closed"]
)


@BATCHING_MODES
def test_a_member_whose_allowance_runs_out_leaves_and_its_batch_runs_for_the_others(
    runner: Runner, pixels_of: PixelsOf, window_ms: float, max_batch: int
) -> None:
    """The only core is held; two requests wait in one batch (queued, or a window batch closed because
    it is full): the first with 30 s of its queue allowance left, the second with 0.3 s (it waited
    in its earlier hop). The second gets Overloaded while the core is still held; once it is free the
    batch runs and the first gets its own answer. Queued, the second's row was taken out of the batch
    (a batch of one); a closed window batch's rows are fixed, and it counts as left (a batch of two)."""
    cat, bird = pixels_of("cat.bmp"), pixels_of("bird.bmp")
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms, max_batch)
    late_timer = StageTimer()

    async def main() -> list[object]:
        async with one_core_held(pool):
            staying = asyncio.ensure_future(batcher.run(runner, 1, cat, StageTimer(), timeout_s=30))
            late = asyncio.ensure_future(batcher.run(runner, 1, bird, late_timer, timeout_s=0.3))
            await asyncio.wait([late], timeout=10)  # its 0.3 s, not the pool's 30 s
        return await asyncio.gather(late, asyncio.wait_for(staying, 30), return_exceptions=True)

    late, staying = asyncio.run(main())
    pool.shutdown()
    assert isinstance(late, Overloaded)
    assert late_timer.ms["queue"] >= 300  # its wait in the batch shows in its 503's timing
    outputs, size = staying  # type: ignore[misc]
    np.testing.assert_array_equal(outputs[0], runner.run(cat)[0])
    assert engine_calls == [size] == ([1] if window_ms == 0 else [2])


@pytest.mark.parametrize("window_ms", [0, 1000], ids=["queued", "window, closed"])
def test_a_member_whose_batch_had_its_cores_before_its_allowance_ran_out_gets_its_answer(
    runner: Runner, pixels_of: PixelsOf, window_ms: float
) -> None:
    """A request with 2 s of its allowance left whose batch got the idle core at once, and whose engine
    call is still running when the 2 s are over, is no longer waiting: it gets its answer. That its
    time is over shows by a second request with as little left, which came after it and waits for the
    core in the next batch: it gets Overloaded (and its batch, everyone gone, never runs). 2 s, not
    less: the first batch's job must take the idle core within them on a busy host."""
    cat = pixels_of("cat.bmp")
    gated = GatedRunner(runner)
    pool = InferencePool(cores=1, max_pending=10, queue_timeout_s=30)
    batcher, engine_calls = counting_batcher(pool, window_ms, max_batch=1)  # a window batch closes at once

    async def main() -> list[object]:
        try:
            running = asyncio.ensure_future(batcher.run(gated, 1, cat, StageTimer(), timeout_s=2.0))  # type: ignore[arg-type]
            assert await asyncio.to_thread(gated.started.wait, 30)  # its batch has the core and runs
            witness = asyncio.ensure_future(batcher.run(gated, 1, cat, StageTimer(), timeout_s=2.0))  # type: ignore[arg-type]
            await asyncio.wait([witness], timeout=20)  # the running one's 2 s ended before
        finally:
            gated.gate.set()
        outcomes = await asyncio.gather(witness, asyncio.wait_for(running, 30), return_exceptions=True)
        await pool.run(lambda: None, 1, StageTimer())  # one pool thread: the witness's job is gone or ran
        return outcomes

    witness, running = asyncio.run(main())
    pool.shutdown()
    assert isinstance(witness, Overloaded)
    outputs, size = running  # type: ignore[misc]
    assert size == 1
    np.testing.assert_array_equal(outputs[0], runner.run(cat)[0])
    assert engine_calls == [1]
