"""The page against a server that wants an API key (MVA_API_KEY): it asks for the key instead of failing,
sends it as X-API-Key once entered (never to the open page and model files), and keeps it for the tab
only (sessionStorage). Without a key on the server the page needs none: the other browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.conftest import RUN_TIMEOUT_MS
from tests.conftest import API_KEY, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Request


def test_the_page_asks_for_the_key_then_sends_it(
    browser: BrowserContext, guarded: LiveServer, images: Path
) -> None:
    page = browser.new_page()
    sent: dict[str, str | None] = {}  # path -> the X-API-Key it carried

    def record(request: Request) -> None:
        path = request.url.removeprefix(guarded.url)
        sent[path.split("?")[0]] = request.headers.get("x-api-key")

    page.on("request", record)
    page.goto(guarded.url + "/")
    page.wait_for_selector("body[data-state=needs-key]", timeout=30_000)
    assert "wants an API key" in page.text_content("#status")
    assert page.evaluate("window.mva.errors") == []
    # nothing runs without the manifest: the live webcam neither
    assert page.is_disabled("#live")

    page.fill("#api-key", "wrong")
    page.dispatch_event("#api-key", "change")
    # a locator wait runs in Playwright's own world: the page's CSP (no eval) does not apply
    page.locator("#status", has_text="refused").wait_for(timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "needs-key"

    page.fill("#api-key", f"  {API_KEY} ")
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    assert not page.is_disabled("#live")
    page.set_input_files("#file", str(images / "cat.bmp"))
    page.wait_for_selector("#run:not([disabled])")
    page.select_option("#task", "classify")
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.mva.errors") == []
    last = page.evaluate("window.mva.last")
    assert last["server"]["payload"]["predictions"][0]["label"] == "Egyptian cat"
    assert last["browser"]["result"]["predictions"][0]["label"] == "Egyptian cat"
    # the key (trimmed) goes to the API routes only, not to the page's own and the model files
    assert sent["/classify"] == sent["/v1/models"] == sent["/v1/manifest"] == API_KEY
    assert sent["/models/mobilenet_v2/int8.onnx"] is None and sent["/"] is None

    # kept for this tab only: a reload finds it in sessionStorage and loads straight away
    assert page.evaluate("sessionStorage.getItem('mva-api-key')") == API_KEY
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    page.reload()
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    assert page.input_value("#api-key") == API_KEY

    # emptied: forgotten
    page.fill("#api-key", "")
    page.dispatch_event("#api-key", "change")
    assert page.evaluate("sessionStorage.getItem('mva-api-key')") is None
    page.close()
