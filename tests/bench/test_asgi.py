"""The in-process app of bench-goals' HTTP split: the real app and handler, answering for real."""

from __future__ import annotations

import json
from pathlib import Path

from service.bench.asgi import InProcessApp


def test_the_app_and_the_handler_alone_classify_in_process(images: Path) -> None:
    app = InProcessApp("mobilenet_v2")
    try:
        picture = (images / "grace_hopper.bmp").read_bytes()
        for handler_only in (False, True):
            answer = json.loads(app.call(picture, handler_only)())
            assert answer["predictions"][0]["label"] == "military uniform"
            assert answer["timing"]["inference"] > 0
    finally:
        app.close()
