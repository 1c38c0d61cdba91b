"""`/docs` in real chromium, the way a user tries the API: Swagger UI renders from the server's own copy
(nothing is requested from another origin, nothing breaks the page's policy), "Authorize" takes the API
key, and "Execute" on /classify with a real photo gets the real answer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import API_KEY, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

TIMEOUT_MS = 60_000


def open_docs(browser: BrowserContext, server: LiveServer) -> tuple[Page, list[str], list[str]]:
    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.goto(server.url + "/docs")
    page.locator(".opblock-summary-path[data-path='/classify']").wait_for(timeout=TIMEOUT_MS)
    return page, requests, problems


def execute_classify(page: Page, image: Path) -> str:
    """Open /classify, attach the photo, Execute; the response body as Swagger UI shows it."""
    operation = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/classify']"))
    operation.locator(".opblock-summary").click()
    operation.locator("input[type=file]").set_input_files(str(image))
    operation.locator("button.execute").click()
    response = operation.locator(".live-responses-table tr.response")
    response.wait_for(timeout=TIMEOUT_MS)
    status = response.locator(".response-col_status").inner_text().strip()
    return f"{status}\n{response.locator('.response-col_description').inner_text()}"


def test_docs_render_from_this_origin_only(browser: BrowserContext, server: LiveServer) -> None:
    page, requests, problems = open_docs(browser, server)
    paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
    assert {"/classify", "/detect", "/v1/models", "/healthz"} <= set(paths)
    elsewhere = [url for url in requests if not url.startswith(server.url)]
    assert elsewhere == []
    assert any(url.endswith("/web/vendor/swagger-ui/swagger-ui-bundle.js") for url in requests)
    assert problems == []
    page.close()


def test_try_it_out_classifies_a_photo_with_the_key(
    browser: BrowserContext, guarded: LiveServer, images: Path
) -> None:
    page, requests, problems = open_docs(browser, guarded)
    assert "401" in execute_classify(page, images / "grace_hopper.bmp")  # not authorized yet

    page.goto(guarded.url + "/docs")
    page.locator(".opblock-summary-path[data-path='/classify']").wait_for(timeout=TIMEOUT_MS)
    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator(".auth-container", has_text="X-API-Key").locator("input").fill(API_KEY)
    dialog.locator(".auth-container", has_text="X-API-Key").locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()

    answer = execute_classify(page, images / "grace_hopper.bmp")
    assert answer.startswith("200") and "military uniform" in answer, answer
    assert all(url.startswith(guarded.url) for url in requests)
    assert [p for p in problems if "401" not in p] == []  # the first try's 401 is logged as a failed load
    page.close()
