"""service/browserbench/run.py: what it holds of the page it drives, and its benchmark in real chromium."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.browserbench.run import PAGE_MAX_ITERATIONS, PageFailed, browser_jobs, page_benchmark
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer


class _IterationsField(HTMLParser):
    """The attributes of the page's #iterations input."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input" and ("id", "iterations") in attrs:
            self.attrs = dict(attrs)


def test_the_iterations_bound_is_the_pages_own() -> None:
    """bench-browser's --iterations max is what the page runs at most (it holds a larger count to its
    field's max): the two may not drift apart."""
    field = _IterationsField()
    field.feed((PROJECT_ROOT / "web" / "src" / "index.html").read_text())
    assert field.attrs["max"] == str(PAGE_MAX_ITERATIONS)


def test_a_benchmark_that_does_not_finish_is_a_page_failure_saying_why(
    chromium: Path, page_built: None, server: LiveServer, images: Path
) -> None:
    """playwright's TimeoutError (or any of its errors: a crashed page) left page_benchmark as is, and
    bench-browser, which stops with one line on PageFailed, ended in a traceback."""
    job = browser_jobs(images)[1]
    with pytest.raises(
        PageFailed, match=r"benchmark of blazeface_short did not finish: .*Timeout 500ms exceeded"
    ):
        page_benchmark(chromium, server.url, job, iterations=1, timeout_ms=500)
