"""Live mode with chromium's synthetic camera (a moving test pattern, so no faces: this checks that
both loops run and count frames, not what they find; a real webcam is not available headless)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from service.browserbench.chromium import chromium_context
from service.localserver import LOOPBACK
from tests.browser.conftest import RUN_TIMEOUT_MS
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
# every ImageBitmap the page makes (the real createImageBitmap makes it), kept for the test to look at
RECORD_BITMAPS = """
const make = window.createImageBitmap.bind(window);
window.bitmaps = [];
window.createImageBitmap = async (...args) => {
  const bitmap = await make(...args);
  window.bitmaps.push(bitmap);
  return bitmap;
};
"""


@dataclass
class CameraPage:
    page: Page
    errors: list[str] = field(default_factory=list)

    def start_live(self) -> dict[str, float]:
        """Press Live webcam and wait until both loops have done a few frames; their frames per second."""
        self.page.click("#live")
        self.page.wait_for_selector("#fps:not([hidden])", timeout=60_000)
        fps = {"browser": 0.0, "server": 0.0}
        for _ in range(120):  # at most a minute
            fps = self.page.evaluate("window.mva.live.fps")
            if fps["browser"] > 0 and fps["server"] > 0:
                break
            self.page.wait_for_timeout(500)
        return fps


@pytest.fixture
def camera_page(chromium: Path, page_built: None, server: LiveServer) -> Iterator[CameraPage]:
    with chromium_context(chromium, FAKE_CAMERA) as context:
        found = CameraPage(context.new_page())
        found.page.on("console", lambda m: m.type == "error" and found.errors.append(m.text))
        found.page.on("pageerror", lambda e: found.errors.append(str(e)))
        found.page.add_init_script(RECORD_BITMAPS)
        found.page.goto(server.url + "/")
        found.page.wait_for_selector("body[data-state=ready]")
        yield found


def test_live_mode_runs_browser_and_api_loops_on_a_camera(camera_page: CameraPage) -> None:
    fps = camera_page.start_live()
    assert fps["browser"] > 0 and fps["server"] > 0, fps
    assert camera_page.page.text_content("#live") == "Stop webcam"
    camera_page.page.click("#live")
    assert camera_page.errors == []


def test_each_camera_frame_is_closed_once_shown(camera_page: CameraPage) -> None:
    """Each loop takes an ImageBitmap of every frame it handles (640x480: 1.2 MB outside the JavaScript
    heap, 30 times a second): it is closed once drawn, so at most one per loop is open at any time."""
    camera_page.start_live()
    page = camera_page.page
    for _ in range(120):  # the page's policy forbids wait_for_function's eval: poll, at most a minute
        if page.evaluate("window.bitmaps.length") >= 20:
            break
        page.wait_for_timeout(500)
    still_open = page.evaluate("window.bitmaps.filter((b) => b.width > 0).length")
    made = page.evaluate("window.bitmaps.length")
    assert still_open <= 2, f"{still_open} of {made} frames still open"
    page.click("#live")
    assert camera_page.errors == []


def test_a_frame_under_way_when_stopped_is_not_shown(camera_page: CameraPage) -> None:
    """Stop ends live mode there and then: the API's answer for a frame sent before it is dropped, not
    drawn over the page with the frames-per-second line shown again under a "Live webcam" button."""
    page = camera_page.page
    camera_page.start_live()
    held: list[Route] = []
    # the next frame's call to the API waits for the test
    page.route(lambda url: "/detect?" in url, lambda route: held.append(route))
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "no frame went to the API"
    page.click("#live")
    assert page.text_content("#live") == "Live webcam" and page.is_hidden("#fps")
    page.evaluate("window.shown = window.mva.live")
    with page.expect_event("requestfinished"):
        held[0].continue_()
    for _ in range(20):  # the answer is in: its frame would be shown within a few event-loop turns
        page.wait_for_timeout(100)
        assert page.evaluate("window.mva.live === window.shown"), "a frame was shown after Stop"
        assert page.is_hidden("#fps"), page.text_content("#fps")
    assert camera_page.errors == []


def test_the_page_says_the_two_sides_boxes_are_of_different_frames(camera_page: CameraPage) -> None:
    """Each loop takes the newest frame when it is free, so the browser's and the API's boxes drawn
    together are of two frames: the line under the picture says so, and how far apart they are."""
    page = camera_page.page
    camera_page.start_live()
    shown: dict[str, Any] = {}
    for _ in range(120):  # at most a minute: until the two sides' latest frames differ
        shown = page.evaluate("({ text: document.getElementById('fps').textContent, live: window.mva.live })")
        if shown["live"].get("apartMs"):
            break
        page.wait_for_timeout(500)
    frames, apart_ms = shown["live"].get("frames"), shown["live"].get("apartMs")
    assert apart_ms, shown
    assert abs(frames["browser"] - frames["server"]) * 1000 == pytest.approx(apart_ms)
    assert f"each side on its own frames: boxes {apart_ms:.0f} ms apart" in shown["text"], shown
    page.click("#live")
    assert camera_page.errors == []


def test_pressed_again_while_the_camera_starts_it_stays_off(camera_page: CameraPage) -> None:
    """A second press while the camera is still being asked for stops it: the camera is not left on,
    with both loops running under a "Live webcam" button whose next press starts another pair."""
    page = camera_page.page
    # both presses in one turn of the page's event loop: the second lands while getUserMedia is pending
    page.evaluate("document.getElementById('live').click(); document.getElementById('live').click()")
    for _ in range(20):  # ten seconds: time for a started camera to show its frames
        page.wait_for_timeout(500)
        assert page.is_hidden("#fps"), page.text_content("#fps")
        assert page.text_content("#live") == "Live webcam"
    tracks = page.evaluate(
        "(document.getElementById('video').srcObject?.getTracks() ?? []).map((t) => t.readyState)"
    )
    assert "live" not in tracks, tracks
    assert page.evaluate("window.mva.state.live") is None
    assert camera_page.errors == []


def test_settings_changed_while_live_apply_from_the_next_frame(camera_page: CameraPage) -> None:
    """Live mode reads the settings for every frame: another detector, server engine and browser SIMD
    chosen while it runs are what the next frames use (they were kept until Stop and a new start).
    The task stays "detect faces", locked, and the page says how settings apply."""
    page = camera_page.page
    camera_page.start_live()
    assert page.is_disabled("#task") and page.is_visible("#live-note")
    assert "applies from the next frame" in page.text_content("#live-note")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.select_option("#detector", "blazeface_full")
    page.select_option("#engine", "litert")
    page.select_option("#browser-simd", "0")
    wanted = {
        "server": lambda url: "/detect?" in url and "model=blazeface_full" in url and "engine=litert" in url,
        "browser model": lambda url: "/models/blazeface_full/" in url,
        "browser without SIMD": lambda url: url.endswith("/ort-wasm.wasm"),
    }
    for _ in range(120):  # at most a minute: a cold model and runtime in the browser, then frames
        missing = [what for what, seen in wanted.items() if not any(map(seen, requests))]
        if not missing:
            break
        page.wait_for_timeout(500)
    assert not missing, f"not used while live: {missing}"
    page.click("#live")
    assert not page.is_disabled("#task") and page.is_hidden("#live-note")
    assert camera_page.errors == []


API_DOWN = {
    "status": 503,
    "content_type": "application/json",
    "body": '{"error": {"code": "x", "message": "down"}}',
}


def test_a_live_error_stays_on_its_line_until_the_next_action(camera_page: CameraPage) -> None:
    """The API loop's error stayed on the live line only until the browser loop's next frame (a
    thirtieth of a second): it now stays, beside both sides' frame rates, until the person acts."""
    page = camera_page.page
    camera_page.start_live()
    page.route(lambda url: "/detect?" in url, lambda route: route.fulfill(**API_DOWN))
    line = ""
    for _ in range(100):
        line = page.text_content("#fps") or ""
        if "API error" in line:
            break
        page.wait_for_timeout(100)
    assert "API error: detect: HTTP 503: down" in line, line
    frames = page.evaluate("window.mva.live.frames.browser")
    for _ in range(30):  # while the browser loop goes on showing its frames
        page.wait_for_timeout(100)
        line = page.text_content("#fps") or ""
        assert "API error: detect: HTTP 503: down" in line, line
    assert page.evaluate("window.mva.live.frames.browser") != frames, "the browser loop showed no frame"
    page.unroute_all()
    page.select_option("#engine", "litert")  # the next action: the line shows what happens from now on
    for _ in range(100):
        line = page.text_content("#fps") or ""
        if "error" not in line:
            break
        page.wait_for_timeout(100)
    assert "error" not in line, line
    page.click("#live")
    # chromium logs each refused call: nothing else
    assert [e for e in camera_page.errors if "status of 503" not in e] == []


def test_live_and_a_run_exclude_each_other(camera_page: CameraPage, images: Path) -> None:
    """A run (or benchmark) started while live shared the engines and the server with both loops, so
    its timing included their work, and the loops drew over its answer: they now wait for each other."""
    page = camera_page.page
    page.set_input_files("#file", str(images / "grace_hopper.bmp"))
    page.wait_for_selector("#run:not([disabled])")
    camera_page.start_live()
    assert page.is_disabled("#run") and page.is_disabled("#bench")
    assert "Run and Benchmark wait until it stops" in page.text_content("#live-note")
    page.click("#live")
    page.wait_for_selector("#run:not([disabled])")
    # pressed and looked at in one turn of the page's event loop: while the run is under way
    live_during_run = page.evaluate(
        "document.getElementById('run').click(), document.getElementById('live').disabled"
    )
    assert live_during_run
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert not page.is_disabled("#live")
    assert camera_page.errors == []


# chromium without a camera (no fake device): getUserMedia rejects; and the same server under a name
# that is not loopback, a plain-http page that is no secure context, where the browser offers none
NO_CAMERA: tuple[str, ...] = ()
INSECURE_HOST = "mva-page.test"
NOT_LOOPBACK = (f"--host-resolver-rules=MAP {INSECURE_HOST} {LOOPBACK}",)


@pytest.mark.parametrize(
    ("flags", "host", "why"),
    [
        (NO_CAMERA, None, "webcam unavailable: "),
        (NOT_LOOPBACK, INSECURE_HOST, "webcam unavailable: camera access needs a secure page"),
    ],
    ids=["getUserMedia-rejects", "getUserMedia-missing"],
)
def test_an_unavailable_webcam_is_an_error_like_the_pages_others(
    chromium: Path, page_built: None, server: LiveServer, flags: tuple[str, ...], host: str | None, why: str
) -> None:
    """No camera was said as plain status ("webcam unavailable", the page's state "idle", in no error
    list), and with no getUserMedia at all the button was disabled without a word: both are now errors,
    as the page's others, standing until the next action."""
    url = server.url if host is None else server.url.replace(LOOPBACK, host)
    with chromium_context(chromium, flags) as context:
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_selector("body[data-state=ready]", timeout=30_000)
        page.click("#live")
        page.wait_for_selector("body[data-state=error]", timeout=30_000)
        said = page.text_content("#status") or ""
        assert said.startswith(f"error: {why}"), said
        assert page.evaluate("window.mva.errors") == [said.removeprefix("error: ")]
        assert page.text_content("#live") == "Live webcam" and page.is_hidden("#fps")
        assert page.evaluate("window.mva.state.live") is None
