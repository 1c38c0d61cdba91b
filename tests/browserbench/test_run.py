"""service/browserbench/run.py: what it holds of the page it drives, and its benchmark in real chromium."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.browserbench.command import failures
from service.browserbench.report import deployment, markdown, summarize
from service.browserbench.run import (
    PAGE_MAX_ITERATIONS,
    PageFailed,
    PictureNotDecoded,
    browser_jobs,
    new_visitor,
    page_benchmark,
)
from service.settings import PROJECT_ROOT
from tests.conftest import PREVIOUS_REPORT, LiveServer


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
    chromium: Path, page_built: None, server: LiveServer, images: Path, tmp_path: Path
) -> None:
    """playwright's TimeoutError (or any of its errors: a crashed page) left page_benchmark as is, and
    bench-browser, which stops with one line on PageFailed, ended in a traceback. The page's picture of
    an earlier run is gone too: beside this run's report it would pass for this one's."""
    job = browser_jobs(images)[1]
    shot = tmp_path / "page-blazeface_short.png"
    shot.write_text(PREVIOUS_REPORT)
    with pytest.raises(
        PageFailed, match=r"benchmark of blazeface_short did not finish: .*Timeout 500ms exceeded"
    ):
        page_benchmark(chromium, server.url, job, iterations=1, screenshot=shot, timeout_ms=500)
    assert not shot.exists()


def test_a_screenshot_that_cannot_be_taken_leaves_the_benchmark_as_measured(
    chromium: Path, page_built: None, server: LiveServer, gateway: Callable[..., str],
    images: Path, tmp_path: Path,
) -> None:  # fmt: skip
    """After a benchmark that failed (the API's upstream gone after 2 calls), a playwright error in the
    screenshot step (here its run does not end within 1 ms) left page_benchmark as is: bench-browser
    ended in a traceback and the benchmark was lost. Now the benchmark is returned as measured, with
    the screenshot's error, which bench-browser lists among the failures, on stderr and (it was left
    out there) in browser.md; no picture of an earlier run is left to pass for this one's."""
    job = browser_jobs(images)[0]
    shot = tmp_path / "page-mobilenet_v2.png"
    shot.write_text(PREVIOUS_REPORT)
    url = gateway(server, api_calls=2)
    bench = page_benchmark(chromium, url, job, iterations=1, screenshot=shot, shot_timeout_ms=1)
    assert any(row.get("error") for row in bench["rows"])  # the benchmark failed, and is kept
    assert any(row["samples"] for row in bench["rows"] if row["side"] == "browser")
    error = bench["screenshot_error"]
    assert error.startswith("screenshot: ") and "Timeout 1ms exceeded" in error
    assert not shot.exists()
    summary = summarize(bench)
    assert f"mobilenet_v2 int8, {error}" in failures([summary], [])
    # browser.md, not only stderr: its reader sees that the picture beside the report is not this run's
    assert f"\n- mobilenet_v2 int8, {error}\n" in markdown([summary], [deployment(summary, 200.0)], [])


def test_a_picture_the_page_cannot_decode_fails_at_once_in_the_pages_words(
    chromium: Path, page_built: None, server: LiveServer, images: Path, tmp_path: Path
) -> None:
    """A picture the page cannot decode (here a .jpg of other bytes) leaves its Run and Benchmark
    buttons disabled and the page in its error state, saying why: the benchmark waited 30 s for a
    button that never enabled and failed with playwright's "Timeout 30000ms exceeded", as did each new
    visitor of it. Now both stop as soon as the page says so, in the page's words."""
    picture = tmp_path / "face.jpg"
    picture.write_bytes(b"not a picture")
    job = replace(browser_jobs(images)[1], image=picture)
    said = "face.jpg is not a picture this browser can decode ("
    with pytest.raises(PictureNotDecoded) as failed:
        page_benchmark(chromium, server.url, job, iterations=1)
    assert str(failed.value).startswith(f"the page could not decode face.jpg: {said}")
    visitor = new_visitor(chromium, server.url, job, simd=True, threads=2)
    assert visitor["error"] == str(failed.value)
