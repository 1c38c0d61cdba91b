"""The in-process app of bench-goals' HTTP split: the real app and handler, answering for real."""

from __future__ import annotations

import json
from pathlib import Path

import uvloop

from service.bench.asgi import InProcessApp


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
