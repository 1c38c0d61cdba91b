"""Live mode with chromium's synthetic camera (a moving test pattern, so no faces: this checks that
both loops run and count frames, not what they find; a real webcam is not available headless)."""

from __future__ import annotations

from pathlib import Path

from service.browserbench.chromium import chromium_context
from tests.conftest import LiveServer

FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def test_live_mode_runs_browser_and_api_loops_on_a_camera(
    chromium: Path, page_built: None, server: LiveServer
) -> None:
    with chromium_context(chromium, FAKE_CAMERA) as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-state=ready]")
        page.click("#live")
        page.wait_for_selector("#fps:not([hidden])", timeout=60_000)
        fps = {"browser": 0.0, "server": 0.0}
        for _ in range(120):  # until both loops have done a few frames (at most a minute)
            fps = page.evaluate("window.mva.live.fps")
            if fps["browser"] > 0 and fps["server"] > 0:
                break
            page.wait_for_timeout(500)
        assert fps["browser"] > 0 and fps["server"] > 0, fps
        assert page.text_content("#live") == "Stop webcam"
        page.click("#live")
        assert errors == []
