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
from typer.testing import CliRunner

from service.browserbench.browser_json import BROWSER_SCHEMA
from service.browserbench.command import save_report
from service.cli import app
from service.settings import PROJECT_ROOT
from tests.conftest import PREVIOUS_REPORT, LiveServer, hold_previous

# onnxruntime-web's SIMD + threads binary: without it only that configuration cannot run, in the
# page's benchmark and for the new visitor (SIMD + 2 threads); the other three load their own
MISSING_WASM = "ort-wasm-simd-threaded.wasm"


def bench_browser(url: str, iterations: int, images: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The whole command, as a user runs it, against `url` (a fast emulated link: the visitors' rows
    are not what these tests look at)."""
    command = [
        sys.executable, "-m", "service.browserbench", "--url", url, "--iterations", str(iterations),
        "--images", str(images), "--out", str(out), "--link-mbps", "400",
    ]  # fmt: skip
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)


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
    run = bench_browser(page_without_one_wasm.url, 1, images, out)
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


def test_a_later_call_that_fails_names_its_run_and_the_runs_before_it_are_kept(
    chromium: Path, page_built: None, server: LiveServer, gateway: Callable[..., str],
    images: Path, tmp_path: Path,
) -> None:  # fmt: skip
    """A configuration whose first call answered but a later one did not lost the runs it had timed
    (the row became `samples: []`) and its error said nothing of which call failed. Here the API's
    upstream goes away after 2 calls: onnxruntime 1 thread's first use and timed run 1 answer, run 2
    gets the gateway's 502; the row keeps run 1 and names run 2, the later rows name their first use."""
    out = tmp_path / "report"
    run = bench_browser(gateway(server, api_calls=2), 2, images, out)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = json.loads((out / "browser.json").read_text())
    [later, *first_uses] = [row for row in report["raw"][0]["rows"] if row["side"] == "server"]
    assert later["label"] == "server onnxruntime threads=1"
    assert later["error"].startswith("timed run 2 of 2: classify: HTTP 502: ")
    assert len(later["samples"]) == 1 and later["samples"][0]["totalMs"] > 0
    assert all(row["error"].startswith("first use: ") and row["samples"] == [] for row in first_uses)
    [failed, *_] = report["summaries"][0]["failed"]
    assert (failed["label"], failed["timed_runs_kept"]) == (later["label"], 1)
    line = "mobilenet_v2 int8, server onnxruntime threads=1: timed run 2 of 2: classify: HTTP 502: "
    kept = " (1 timed run(s) before it in browser.json's raw rows, not in the figures)"
    assert f"- {line}" in (out / "browser.md").read_text() and line in run.stderr and kept in run.stderr
    # a row short of its runs gives no figure: the median of 1 run would pass for one of 2
    assert report["summaries"][0]["server_inference_ms"]["ort1"] is None


def test_a_url_is_taken_with_its_trailing_slash_and_refused_when_not_the_services(
    chromium: Path, page_built: None, start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """`--url http://host:8000/` (as an address bar gives it) loaded `//`, a 404: the page never got
    ready, and a playwright timeout a minute later ended the run with a traceback; so did an address
    where /healthz is not this service's (any answer passed the check)."""
    guarded = start_server(api_key="bench-browser-has-no-key")  # the page stops at once, saying why
    out, elsewhere = tmp_path / "out", f"{guarded.url}/elsewhere"
    for url, code, said in [
        (guarded.url + "/", 1, "not ready (needs-key): the server wants an API key"),
        (elsewhere, 2, f"{elsewhere}/healthz answered HTTP 404: not this service's address"),
    ]:
        result = CliRunner().invoke(
            app, ["bench-browser", "--url", url, "--iterations", "1", "--out", str(out)]
        )
        assert result.exit_code == code, result.output
        assert said in result.output and "Traceback" not in result.output
        assert not (out / "browser.json").exists()


def test_an_images_folder_without_the_pictures_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """--images names a folder, and a folder without grace_hopper.bmp or face.jpg passed: the server
    and chromium started, and playwright's FileNotFoundError on picking the picture ended the run in
    a traceback. Now it is an invalid option (exit 2), naming what is missing, with nothing written."""
    pictures, out = tmp_path / "images", tmp_path / "out"
    pictures.mkdir()
    (pictures / "face.jpg").write_bytes(b"")
    result = CliRunner().invoke(app, ["bench-browser", "--images", str(pictures), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"error: --images {pictures}: no grace_hopper.bmp there" in result.output
    assert not out.exists()


def test_a_chromium_that_does_not_start_is_refused_in_one_line(server: LiveServer, tmp_path: Path) -> None:
    """MVA_CHROMIUM naming an executable that is not a browser (here `true`, which exits at once)
    passed the check for a chromium, and playwright's error launching it ended the run in a page of
    traceback. Now it is exit 2, as no chromium is, saying which executable did not start."""
    true = shutil.which("true")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["bench-browser", "--url", server.url, "--out", str(out)], env={"MVA_CHROMIUM": true}
    )
    assert result.exit_code == 2, result.output
    assert f"error: chromium: {true} did not start: " in result.output
    assert not (out / "browser.json").exists()


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--iterations", "500", "should be less than or equal to 200"),
        ("--link-mbps", "0", "should be greater than or equal to 0.1"),
        ("--link-rtt-ms", "-5", "should be greater than or equal to 0"),
    ],
)
def test_an_option_out_of_range_is_refused_before_anything_runs(
    option: str, value: str, said: str, tmp_path: Path
) -> None:
    """The page holds its count to 200: `--iterations 500` printed 500 and ran 200. A link of 0 Mbit/s
    went to chromium, whose emulation takes a throughput of 0 for unlimited: the report's "0/0 Mbit/s"
    rows were of no such link; a negative round trip is no link either. Both ran the whole report."""
    command = [sys.executable, "-m", "service.browserbench", option, value, "--out", str(tmp_path)]
    run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert said in " ".join(run.stderr.replace("│", " ").split())
    assert list(tmp_path.iterdir()) == []


def test_a_model_whose_page_benchmark_does_not_finish_is_a_failed_entry_beside_the_others(
    chromium: Path, page_built: None, server: LiveServer, images: Path, tmp_path: Path
) -> None:
    """The second model's page benchmark not finishing (here face.jpg is no picture: the page cannot
    decode it) threw the first model's figures away: no report, one error line. Now the report has
    MobileNetV2's figures and BlazeFace as a failed "page benchmark" entry saying, in the page's
    words, what it could not decode, as do BlazeFace's new visitors; the command exits 1 naming it."""
    pictures = tmp_path / "images"
    pictures.mkdir()
    shutil.copy(images / "grace_hopper.bmp", pictures)
    (pictures / "face.jpg").write_bytes(b"not a picture")
    out = tmp_path / "report"
    run = bench_browser(server.url, 1, pictures, out)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = json.loads((out / "browser.json").read_text())
    measured, unfinished = report["summaries"]
    assert measured["failed"] == [] and measured["browser_inference_ms"]["simd=on threads=1"] > 0
    assert measured["server_inference_ms"]["ort1"] > 0 and report["deployment"][0]["sizing"] != []
    [failed] = unfinished["failed"]
    assert (unfinished["job"]["name"], failed["label"]) == ("blazeface_short", "page benchmark")
    said = "the page could not decode face.jpg: face.jpg is not a picture this browser can decode ("
    assert failed["error"].startswith(said)
    visitors = [v.get("error") for v in report["new_visitor"] if v["job"] == "blazeface_short"]
    assert visitors == [failed["error"]] * 3
    assert unfinished["server_inference_ms"]["ort1"] is None and report["deployment"][1]["sizing"] == []
    assert report["raw"][1]["error"] == failed["error"] and report["raw"][1]["rows"] == []
    line = f"blazeface_short, page benchmark: {failed['error']}"
    assert f"- {line}" in (out / "browser.md").read_text() and f"  {line}" in run.stderr
    assert (out / "page-mobilenet_v2.png").is_file()
