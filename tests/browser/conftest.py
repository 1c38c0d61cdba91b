"""Debian chromium (via playwright, never a downloaded browser) on the page of a real uvicorn server.
Skipped, saying why, only when no chromium executable is found (CI installs it: `make browser-deps`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from service.browserbench.chromium import chromium_context
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

ARTIFACTS = PROJECT_ROOT / "artifacts" / "browser"
RUN_TIMEOUT_MS = 180_000  # a cold non-SIMD wasm run on a busy 2-core machine takes seconds


@pytest.fixture(scope="module")
def browser(chromium: Path, page_built: None) -> Iterator[BrowserContext]:
    with chromium_context(chromium) as context:
        yield context


@contextmanager
def opened_page(
    browser: BrowserContext,
    url: str,
    routes: Mapping[str, Callable[[Route], object]] | None = None,
    until: str = "ready",
) -> Iterator[Page]:
    """A new page of the service at `url`, yielded once it says `until` (body[data-state]), with each
    pattern of `routes` answered by its handler from the first request on; closed however the test
    ends (a failed assertion left it open for the rest of the module)."""
    page = browser.new_page()
    try:
        for pattern, handler in (routes or {}).items():
            page.route(pattern, handler)
        page.goto(url + "/")
        page.wait_for_selector(f"body[data-state={until}]", timeout=30_000)
        yield page
    finally:
        page.close()


@dataclass
class PageSession:
    """A page of the service, with what the browser said and fetched while it ran."""

    page: Page
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)

    def pick(self, image: Path) -> None:
        self.page.set_input_files("#file", str(image))
        self.page.wait_for_selector("#run:not([disabled])")

    def run(self, **choices: str) -> dict[str, Any]:
        """Set the page's selects (id -> value), press Run and return window.mva.last."""
        for select, value in choices.items():
            self.page.select_option(f"#{select}", value)
        self.page.evaluate("document.body.dataset.state = 'busy'")
        self.page.click("#run")
        self.page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
        errors = self.page.evaluate("window.mva.errors")
        assert not errors, errors
        return self.page.evaluate("window.mva.last")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def session(browser: BrowserContext, server: LiveServer) -> Iterator[PageSession]:
    page = browser.new_page()
    found = PageSession(page, server.url)
    page.on("console", lambda m: m.type == "error" and found.console_errors.append(m.text))
    page.on("pageerror", lambda e: found.console_errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: found.requests.append(r.url))
    page.on("worker", lambda w: found.workers.append(w.url))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    yield found
    page.close()
