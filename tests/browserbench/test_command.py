"""What `bench-browser` writes at the end of its run (the run itself: tests/browser), and a run in a
real chromium where one configuration cannot run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from service.browserbench.browser_json import BROWSER_SCHEMA
from service.browserbench.command import save_report
from service.settings import PROJECT_ROOT
from tests.conftest import PREVIOUS_REPORT, LiveServer, hold_previous

# onnxruntime-web's SIMD + threads binary: without it only that configuration cannot run, in the
# page's benchmark and for the new visitor (SIMD + 2 threads); the other three load their own
MISSING_WASM = "ort-wasm-simd-threaded.wasm"


def test_the_report_replaces_the_previous_one_whole(tmp_path: Path) -> None:
    """browser.json and browser.md are written aside and renamed into place, never rewritten where
    bench-readme reads them (a crash mid-write left them torn, or a new .json beside an old .md)."""
    held = [hold_previous(tmp_path / name) for name in ("browser.json", "browser.md")]
    save_report(tmp_path, {"summaries": []}, "| model | link |")
    assert json.loads((tmp_path / "browser.json").read_text()) == {"schema": BROWSER_SCHEMA, "summaries": []}
    assert (tmp_path / "browser.md").read_text() == "| model | link |\n"
    assert all(path.read_text() == PREVIOUS_REPORT for path in held)


@pytest.fixture
def page_without_one_wasm(
    page_built: None, tmp_path: Path, start_server: Callable[..., LiveServer]
) -> LiveServer:
    """A server of a page built without onnxruntime-web's SIMD + threads binary (nor its copies)."""
    page = tmp_path / "page"
    shutil.copytree(PROJECT_ROOT / "web" / "dist", page)
    for suffix in ("", ".br", ".gz"):
        (page / "vendor" / f"{MISSING_WASM}{suffix}").unlink()
    return start_server(static_dir=str(page))


def test_a_configuration_that_fails_is_a_failed_row_and_the_others_are_measured(
    chromium: Path, page_without_one_wasm: LiveServer, images: Path, tmp_path: Path
) -> None:
    """One configuration the browser cannot run aborted the whole report (a traceback, nothing
    written). Now it is a row with its error in browser.json and the markdown, the ratios come from
    the rows that ran, and the command exits 1 at the end, naming it."""
    out = tmp_path / "report"
    command = [
        sys.executable, "-m", "service.browserbench", "--url", page_without_one_wasm.url,
        "--iterations", "1", "--images", str(images), "--out", str(out), "--link-mbps", "400",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = json.loads((out / "browser.json").read_text())
    text = (out / "browser.md").read_text()
    for summary in report["summaries"]:
        name = summary["job"]["name"]
        [failed] = summary["failed"]
        assert failed["label"] == "browser wasm simd=on threads=2"
        assert "fetching of the wasm failed" in failed["error"]  # onnxruntime-web's words for the 404
        assert f"- {name}, browser wasm simd=on threads=2: " in text
        assert f"{name}, browser wasm simd=on threads=2: " in run.stderr
        inference = summary["browser_inference_ms"]
        assert inference["simd=on threads=2"] is None and summary["thread_speedup_browser"] is None
        assert inference["simd=off threads=1"] > 0 and inference["simd=on threads=1"] > 0
        assert summary["simd_speedup_browser"] > 0 and summary["server_inference_ms"]["ort1"] > 0
    assert [d["sizing"] != [] for d in report["deployment"]] == [True, True]
    # the new visitor runs SIMD + 2 threads: each of its rows failed, saying so
    assert len(report["new_visitor"]) == 6 and all(v.get("error") for v in report["new_visitor"])
    assert text.count("| failed: ") == 6 and run.stderr.count("new visitor (") == 6


def test_more_iterations_than_the_page_runs_are_refused_before_anything_runs(tmp_path: Path) -> None:
    """The page holds its count to 200: `--iterations 500` printed 500 and ran 200."""
    command = [sys.executable, "-m", "service.browserbench", "--iterations", "500", "--out", str(tmp_path)]
    run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "should be less than or equal to 200" in " ".join(run.stderr.replace("│", " ").split())
    assert list(tmp_path.iterdir()) == []
