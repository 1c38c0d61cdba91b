"""The page when one side fails: it says which side and why, shows nothing from an earlier run as this
run's answer, and stays usable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import RUN_TIMEOUT_MS, opened_page
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

SMALL_LIMIT = 400_000  # pixels: grace_hopper (512x600) passes, cat_1080p (1920x1080) does not


@pytest.fixture(scope="module")
def strict(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    return start_module_server(max_pixels=str(SMALL_LIMIT), warm_models='["mobilenet_v2"]')


@pytest.fixture
def page(browser: BrowserContext, strict: LiveServer) -> Iterator[Page]:
    with opened_page(browser, strict.url) as page:
        yield page


def press(page: Page, picture: Path, button: str, done: str, timeout_ms: int = RUN_TIMEOUT_MS) -> str:
    """Pick `picture`, press `button`, wait for the page's state `done` or `error`; returns the state."""
    page.set_input_files("#file", str(picture))
    page.wait_for_selector(f"{button}:not([disabled])")
    page.evaluate("document.body.dataset.state = 'busy'")
    page.click(button)
    page.wait_for_selector(f"body[data-state={done}], body[data-state=error]", timeout=timeout_ms)
    return str(page.evaluate("document.body.dataset.state"))


def no_answer(server: LiveServer) -> str:
    """What the page says of any of its requests that got no answer from `server`."""
    return f"no answer from the server at {urlsplit(server.url).netloc} (stopped?): "


def unanswered(pattern: str) -> dict[str, Callable[[Route], object]]:
    """Routes for opened_page: the requests matching `pattern` get no answer (a connection reset)."""
    return {pattern: lambda route: route.abort("connectionreset")}


def run(page: Page, picture: Path) -> str:
    return press(page, picture, "#run", "done")


def bench(page: Page, picture: Path) -> str:
    return press(page, picture, "#bench", "bench-done")


def test_a_refused_upload_leaves_no_earlier_answer_on_the_server_side(page: Page, images: Path) -> None:
    page.select_option("#task", "classify")
    assert run(page, images / "grace_hopper.bmp") == "done"
    assert "military uniform" in page.text_content("#server-result")

    # the browser decodes the 1080p photo; the server refuses it (MVA_MAX_PIXELS)
    assert run(page, images / "cat_1080p.jpg") == "error"
    assert "Egyptian cat" in page.text_content("#browser-result")
    server = page.text_content("#server-result")
    assert "military uniform" not in server and "HTTP 413" in server, server
    assert "HTTP 413" in page.text_content("#status")
    assert page.text_content("#server-timing") == ""
    assert page.evaluate("window.mva.last") is None

    # still usable
    page.evaluate("window.mva.errors = []")
    assert run(page, images / "grace_hopper.bmp") == "done"
    assert "military uniform" in page.text_content("#server-result")


def test_a_server_stopped_mid_session_is_named_as_such(
    browser: BrowserContext, start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(warm_models='["mobilenet_v2"]')
    with opened_page(browser, server.url) as page:
        page.select_option("#task", "classify")
        assert run(page, images / "cat.bmp") == "done"
        server.stop()
        # the browser side still runs (model cached in the page); the server side says what happened
        page.evaluate("document.body.dataset.state = 'busy'")
        page.click("#run")
        page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
        assert "Egyptian cat" in page.text_content("#browser-result")
        assert f"classify: {no_answer(server)}" in page.text_content("#server-result")
        assert f"classify: {no_answer(server)}" in page.text_content("#status")
        assert not page.is_disabled("#run")


def test_a_failed_benchmark_leaves_no_earlier_chart(page: Page, images: Path) -> None:
    """A benchmark of another picture that the server refuses must not leave the last one's chart and
    table standing as if they were its own: its rows the server refuses fail, saying why, and the others
    are measured on that picture (a failed configuration stopped the whole benchmark, the others'
    figures lost with it)."""
    page.select_option("#task", "classify")
    page.fill("#iterations", "1")
    assert bench(page, images / "grace_hopper.bmp") == "bench-done"
    assert page.text_content("#bench-table") and page.evaluate("window.mva.bench") is not None

    assert bench(page, images / "cat_1080p.jpg") == "error"
    assert "HTTP 413" in page.text_content("#status")
    assert "4 of 9 configurations failed" in page.text_content("#status")
    result = page.evaluate("window.mva.bench")
    assert result["picture"]["width"] == 1920
    # the picture as picked is over the limit; shrunk in the browser first it is not
    failed = [row for row in result["rows"] if row.get("error")]
    measured = [row for row in result["rows"] if not row.get("error")]
    assert [(row["side"], row["upload"]) for row in failed] == [("server", "original")] * 4
    assert all("HTTP 413" in row["error"] and row["samples"] == [] for row in failed)
    assert [row["side"] for row in measured] == ["browser"] * 4 + ["server"]
    assert all(len(row["samples"]) == 1 for row in measured)
    assert page.text_content("#bench-table").count("failed: ") == 4
    # one bar per measured row, none for a failed one
    assert page.locator("#chart text.label").all_text_contents() == [row["label"] for row in measured]


# ort.min.js as a proxy or a cut-short download may serve it (missing, or JavaScript that stops
# midway), and the reason the page gives for each
BROKEN_ORT = {
    "missing": ({"status": 404, "content_type": "text/plain", "body": "not found"}, "HTTP 404"),
    "cut short": (
        {"status": 200, "content_type": "text/javascript", "body": "var ort = (function () {"},
        "defined no `ort`",
    ),
}


@pytest.mark.parametrize(("answer", "reason"), BROKEN_ORT.values(), ids=BROKEN_ORT.keys())
def test_an_onnxruntime_web_that_does_not_load_fails_the_browser_side_only(
    browser: BrowserContext, strict: LiveServer, images: Path, answer: dict[str, Any], reason: str
) -> None:
    """The browser side says that onnxruntime-web did not load (instead of "running…" for good), the
    server side still answers, and the page stays usable: a second run says so again."""
    broken = {"**/web/vendor/ort.min.js": lambda route: route.fulfill(**answer)}
    with opened_page(browser, strict.url, broken) as page:
        page.select_option("#task", "classify")
        for _ in range(2):
            assert run(page, images / "grace_hopper.bmp") == "error"
            said = page.text_content("#browser-result")
            assert "onnxruntime-web did not load" in said and "ort.min.js" in said and reason in said, said
            assert "military uniform" in page.text_content("#server-result")
            assert "browser" in page.text_content("#status")
            assert not page.is_disabled("#run")


@pytest.mark.parametrize("missing", ["engine.html", "engine.mjs"])
def test_a_missing_engine_frame_file_fails_the_browser_side_instead_of_waiting(
    browser: BrowserContext, strict: LiveServer, images: Path, missing: str
) -> None:
    """The hidden frame that runs onnxruntime-web answers nothing when its page or script is a 404: the
    browser side says which file, the server side still answers, and a second run says so again."""
    gone = {f"**/web/{missing}*": lambda route: route.fulfill(status=404, body="not found")}
    with opened_page(browser, strict.url, gone) as page:
        page.select_option("#task", "classify")
        for _ in range(2):
            # the frame's failure is known once it has loaded: seconds, not the run's own allowance
            assert press(page, images / "grace_hopper.bmp", "#run", "done", timeout_ms=60_000) == "error"
            said = page.text_content("#browser-result")
            assert "engine frame did not start" in said and f"{missing}: HTTP 404" in said, said
            assert "military uniform" in page.text_content("#server-result")
            assert "browser" in page.text_content("#status")
            assert not page.is_disabled("#run")


def test_a_missing_page_module_says_so_instead_of_loading_for_good(
    browser: BrowserContext, strict: LiveServer
) -> None:
    """One of the modules app.mjs imports is a 404: none of the page's code runs, and the status line
    says which file did not load rather than "loading the manifest…" for good."""
    gone = {"**/web/api.mjs": lambda route: route.fulfill(status=404, body="not found")}
    with opened_page(browser, strict.url, gone, until="error") as page:
        said = page.text_content("#status")
    assert "the page's scripts did not load" in said and "api.mjs: HTTP 404" in said, said


def test_a_model_file_cut_short_fails_the_browser_side_naming_the_file(
    browser: BrowserContext, strict: LiveServer, images: Path
) -> None:
    """A model download cut short (a proxy's limit, a dropped connection) arrives as 200 with part of
    the file: onnxruntime-web cannot parse it. The browser side says which model file, the server's
    side still answers, and the next run tries the download again."""
    model = "**/models/mobilenet_v2/int8.onnx"
    cut_short = {
        model: lambda route: route.fulfill(
            status=200, content_type="application/octet-stream", body=b"\x08\x07" * 500
        )
    }
    with opened_page(browser, strict.url, cut_short) as page:
        page.select_option("#task", "classify")
        page.select_option("#precision", "int8")
        assert run(page, images / "grace_hopper.bmp") == "error"
        said = page.text_content("#browser-result")
        assert said.startswith("failed: ") and "/models/mobilenet_v2/int8.onnx" in said, said
        assert "military uniform" in page.text_content("#server-result")
        page.unroute(model)
        assert run(page, images / "grace_hopper.bmp") == "done"
        assert "military uniform" in page.text_content("#browser-result")


def test_a_model_download_that_fails_names_the_file(
    browser: BrowserContext, strict: LiveServer, images: Path
) -> None:
    """A model download with no answer (connection refused or dropped) failed the browser side with
    fetch's "Failed to fetch" alone: it now names the model file, as an HTTP error does, and says that
    no answer came in the words the page's other requests use."""
    with opened_page(browser, strict.url, unanswered("**/models/blazeface_short/fp32.onnx")) as page:
        page.select_option("#task", "detect")
        page.select_option("#detector", "blazeface_short")
        assert run(page, images / "face.jpg") == "error"
        said = page.text_content("#browser-result")
        assert said.startswith("failed: "), said
        assert f"/models/blazeface_short/fp32.onnx: {no_answer(strict)}" in said, said
        assert "face" in page.text_content("#server-result")


def test_a_labels_download_that_fails_names_the_labels(
    browser: BrowserContext, strict: LiveServer, images: Path
) -> None:
    """The labels come beside the model on first use: with no answer for them the browser side said
    "Failed to fetch" alone; it now says whose labels did not come."""
    with opened_page(browser, strict.url, unanswered("**/models/mobilenet_v2/labels.txt")) as page:
        page.select_option("#task", "classify")
        assert run(page, images / "grace_hopper.bmp") == "error"
        said = page.text_content("#browser-result")
        assert said.startswith(f"failed: labels of mobilenet_v2: {no_answer(strict)}"), said
        assert "military uniform" in page.text_content("#server-result")


def test_a_manifest_with_no_answer_names_it(browser: BrowserContext, strict: LiveServer) -> None:
    """The manifest is the page's first request: with no answer for it the status line names it and
    says that no answer came, as for the API's own calls."""
    with opened_page(browser, strict.url, unanswered("**/v1/manifest"), until="error") as page:
        said = page.text_content("#status")
    assert said.startswith(f"error: /v1/manifest: {no_answer(strict)}"), said
