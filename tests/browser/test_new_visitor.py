"""`bench-browser`'s new visitor (service/browserbench/run.py) in real chromium: the build's brotli /
gzip copies cut what a first visit downloads, and the emulated link really limits the download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.browserbench.report import markdown
from service.browserbench.run import Link, browser_jobs, new_visitor
from service.cli import app
from service.localserver import free_port
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer


def test_compressed_visit_downloads_a_fraction_and_the_link_is_emulated(
    chromium: Path, page_built: None, server: LiveServer, images: Path
) -> None:
    job = browser_jobs(images)[1]  # BlazeFace short: the smaller model
    compressed = new_visitor(chromium, server.url, job, simd=True, threads=1)
    link = Link(down_mbps=100, up_mbps=50, rtt_ms=10)
    plain = new_visitor(chromium, server.url, job, simd=True, threads=1, link=link, compressed=False)
    for visit in (compressed, plain):
        assert visit["first_use"] is not None  # the browser ran the model
    assert (compressed["link"], compressed["compressed"]) == ("loopback", True)
    assert (plain["link"], plain["compressed"]) == ("100/50 Mbit/s, 10 ms RTT", False)
    # ort-wasm-simd.wasm: 10.6 MB as is, ~1.8 MB as brotli
    assert plain["by_kind"]["wasm"] > 9e6
    assert compressed["by_kind"]["wasm"] < plain["by_kind"]["wasm"] / 4
    assert compressed["by_kind"]["model"] < 0.7 * plain["by_kind"]["model"]
    assert compressed["bytes"] < plain["bytes"] / 3
    # scripts: onnxruntime-web (ort.min.js) and the page's own modules (.mjs), sent as is
    dist = PROJECT_ROOT / "web" / "dist"
    assert plain["by_kind"]["script"] > sum(
        (dist / name).stat().st_size for name in ("vendor/ort.min.js", "app.mjs")
    )
    # the wasm alone cannot arrive faster than the link carries it
    assert plain["time_to_first_result_ms"] >= plain["by_kind"]["wasm"] * 8 / (link.down_mbps * 1e6) * 1000


def test_a_failed_visit_says_why(
    chromium: Path, page_built: None, start_server: Callable[..., LiveServer], images: Path
) -> None:
    """A run the page reports as failed (here the server refuses the picture: 413) is a row that names
    the page's own message, with no figures (not a TypeError on the missing answer): the report goes on
    with the other visitors."""
    strict = start_server(max_pixels="1000")
    job = browser_jobs(images)[1]
    visit = new_visitor(chromium, strict.url, job, simd=True, threads=1)
    assert "HTTP 413" in visit["error"]
    assert (visit["job"], visit["simd"], visit["threads"]) == (job.name, True, 1)
    assert "first_use" not in visit and "bytes" not in visit


def test_a_visit_with_no_result_in_time_is_a_row_saying_so(
    chromium: Path, page_built: None, server: LiveServer, images: Path
) -> None:
    """A visit that did not finish in time (an emulated link too slow for the wasm) raised playwright's
    TimeoutError out of bench-browser: a traceback and no report, after minutes of measuring."""
    job = browser_jobs(images)[1]
    slow = Link(down_mbps=0.2, up_mbps=0.1, rtt_ms=20)  # the 1.8 MB brotli wasm takes over a minute
    visit = new_visitor(chromium, server.url, job, simd=True, threads=1, link=slow, timeout_ms=5000)
    assert visit["error"].startswith("no first result: ") and "Timeout 5000ms exceeded." in visit["error"]
    assert (visit["job"], visit["link"]) == (job.name, "0.2/0.1 Mbit/s, 20 ms RTT")
    assert "first_use" not in visit and "bytes" not in visit


def test_a_visitor_that_did_not_run_two_threads_is_labelled_with_what_ran(
    chromium: Path, page_built: None, server: LiveServer, gateway: Callable[..., str], images: Path
) -> None:
    """Behind a proxy that drops the isolation headers onnxruntime-web quietly runs one thread (and
    loads the one-thread binary): the visitor's row, in a table headed "SIMD + 2 threads", gave that
    binary's bytes and time as two threads'. It now says what ran."""
    isolation = frozenset({"cross-origin-opener-policy", "cross-origin-embedder-policy"})
    job = browser_jobs(images)[1]
    visit = new_visitor(chromium, gateway(server, drop=isolation), job, simd=True, threads=2)
    assert (visit["engine"]["threadsEffective"], visit["engine"]["crossOriginIsolated"]) == (1, False)
    ran = "ran 1 thread(s), SIMD on (crossOriginIsolated=False), not as asked"
    assert f"| {job.name} ({ran}) | loopback |" in markdown([], [], [visit])
    isolated = new_visitor(chromium, server.url, job, simd=True, threads=2)
    assert isolated["engine"]["threadsEffective"] == 2
    assert f"| {job.name} | loopback |" in markdown([], [], [isolated])


def test_a_page_that_cannot_get_ready_says_why_at_once(
    chromium: Path, page_built: None, start_server: Callable[..., LiveServer], images: Path
) -> None:
    """A server that wants an API key leaves the page asking for it (data-state=needs-key), never
    ready: the run names that, rather than a playwright timeout on the ready state."""
    guarded = start_server(api_key="bench-browser-has-no-key")
    job = browser_jobs(images)[1]
    with pytest.raises(RuntimeError, match=r"not ready \(needs-key\): the server wants an API key"):
        new_visitor(chromium, guarded.url, job, simd=True, threads=1)


def test_the_command_says_in_one_line_why_it_cannot_run(
    chromium: Path, page_built: None, start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """`bench-browser --url`: no server there is a usage error before chromium starts (2), a page that
    cannot get ready (the server wants a key) a one-line error (1); no traceback, no report written."""
    out = tmp_path / "out"
    nobody = f"http://127.0.0.1:{free_port()}"
    guarded = start_server(api_key="bench-browser-has-no-key")
    for url, code, said in [
        (nobody, 2, f"error: --url {nobody}: no server answers there (ConnectError"),
        (guarded.url, 1, "not ready (needs-key): the server wants an API key"),
    ]:
        result = CliRunner().invoke(
            app, ["bench-browser", "--url", url, "--iterations", "1", "--out", str(out)]
        )
        assert result.exit_code == code, result.output
        assert said in result.output and "Traceback" not in result.output
        assert not (out / "browser.json").exists()
