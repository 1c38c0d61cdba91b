"""The in-process app of bench-goals' HTTP split: the real app and handler, answering for real."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import uvloop

from service.bench.asgi import InProcessApp
from service.inference import WATCH_QUEUED_AFTER_S


class CountedLoop(uvloop.Loop):
    """uvloop's loop, counting its starts (`run_until_complete` starts it through `run_forever` too)."""

    starts = 0

    def run_forever(self) -> None:
        CountedLoop.starts += 1
        super().run_forever()


def test_the_app_and_the_handler_alone_classify_in_process(images: Path) -> None:
    app = InProcessApp("mobilenet_v2")
    try:
        picture = (images / "grace_hopper.bmp").read_bytes()
        for handler_only in (False, True):
            answer = json.loads(app.answer(picture, handler_only))
            assert answer["predictions"][0]["label"] == "military uniform"
            assert answer["timing"]["inference"] > 0
    finally:
        app.close()


def test_a_measurement_runs_every_call_on_one_loop_started_once(images: Path) -> None:
    """A loop started per call costs each call a start the server's loop, running all along, never
    pays: the app's start, the warm-up, the timed calls and the close all run on one start."""
    CountedLoop.starts = 0
    app = InProcessApp("mobilenet_v2", new_loop=CountedLoop)
    try:
        picture = (images / "grace_hopper.bmp").read_bytes()
        timed = {handler_only: app.call(picture, handler_only) for handler_only in (False, True)}
        figures = {handler_only: [call() for _ in range(3)] for handler_only, call in timed.items()}
    finally:
        app.close()
    assert CountedLoop.starts == 1
    # each figure is a whole classification's time, the inference included, in ms
    assert all(ms > 0 for times in figures.values() for ms in times)


def test_a_request_that_waits_for_a_core_long_enough_to_watch_its_client_is_answered(images: Path) -> None:
    """A request still waiting for a core after WATCH_QUEUED_AFTER_S watches its connection, calling
    receive() until http.disconnect (service/inference.py). uvicorn answers that only once the client
    is gone or the response sent; a receive() that handed the body again at once kept the loop in that
    watch for good, and the call never returned."""
    app = InProcessApp("mobilenet_v2")
    pool = app.app.state.mva.pool
    held, release = threading.Event(), threading.Event()

    def hold_every_core() -> None:
        held.set()
        release.wait()

    holder = threading.Thread(target=pool.run_blocking, args=(hold_every_core, pool.cores))
    holder.start()
    picture = (images / "grace_hopper.bmp").read_bytes()
    answers: list[bytes] = []
    caller = threading.Thread(target=lambda: answers.append(app.answer(picture)), daemon=True)
    try:
        assert held.wait(60), "the cores were never taken"  # so the request waits for one
        caller.start()
        deadline = time.monotonic() + 60
        while pool.pending == 0:  # admitted, its job queued on the budget
            assert caller.is_alive() and time.monotonic() < deadline, "the request was never admitted"
            time.sleep(0.01)
        time.sleep(10 * WATCH_QUEUED_AFTER_S)  # its watch has started
    finally:
        release.set()
        holder.join()
        if caller.ident is not None:
            caller.join(timeout=60)
        if not caller.is_alive():  # else the loop is stuck: closing it would wait for good
            app.close()
    assert not caller.is_alive(), "the queued request was never answered"
    assert answers, "the call failed (its error is in the output above)"
    assert json.loads(answers[0])["predictions"][0]["label"] == "military uniform"
