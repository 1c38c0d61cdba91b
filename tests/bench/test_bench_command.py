"""`mobile-vision-api bench` for real on a tiny matrix: in-process and over HTTP against a server it
starts itself; checks the files it writes, never the timings."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.cli import app
from service.localserver import free_port
from service.settings import CPU_COUNT, PROJECT_ROOT
from tests.conftest import LiveServer


def expected_cells() -> set[tuple[str, str, str, int]]:
    threads = {1, CPU_COUNT}
    cells = {
        ("blazeface_short", backend, "fp32", t)
        for backend in ("onnxruntime", "litert-xnnpack")
        for t in threads
    }
    cells |= {("mobilenet_v2", "onnxruntime", p, t) for p in ("int8", "fp32") for t in threads}
    cells |= {("mobilenet_v2", "litert-xnnpack", "int8", t) for t in threads}
    return cells


def test_json_has_every_cell_in_every_mode_with_statistics(bench_out: Path) -> None:
    document = json.loads((bench_out / "bench.json").read_text())
    rows = document["results"]
    for mode in ("engine", "pipeline", "http"):
        cells = {(r["model"], r["backend"], r["precision"], r["threads"]) for r in rows if r["mode"] == mode}
        assert cells == expected_cells(), mode
    for row in rows:
        assert row["runs"] == 10  # --quick's
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["throughput_rps"] > 0
    assert document["machine"]["cores"] == CPU_COUNT
    assert document["machine"]["packages"]["onnxruntime"]
    assert document["config"]["command"].startswith("mobile-vision-api bench --model blazeface_short")
    assert "--quick" in document["config"]["command"]


def test_json_reports_the_ratios_users_ask_about(bench_out: Path) -> None:
    ratios = json.loads((bench_out / "bench.json").read_text())["ratios"]
    kinds = {r["kind"] for r in ratios}
    assert {"int8_vs_fp32", "http_overhead_ms", "simd_speedup"} <= kinds
    if CPU_COUNT > 1:
        assert "thread_speedup" in kinds
    overhead = [r for r in ratios if r["kind"] == "http_overhead_ms"]
    assert len(overhead) == len(expected_cells())
    for r in ratios:
        if r["kind"] == "http_overhead_ms":
            assert r["value"] == pytest.approx(r["numerator_ms"] - r["denominator_ms"], abs=1e-3)
        else:
            assert r["value"] == pytest.approx(r["numerator_ms"] / r["denominator_ms"], abs=0.01)


def test_csv_matches_json(bench_out: Path) -> None:
    with (bench_out / "bench.csv").open() as f:
        rows = list(csv.DictReader(f))
    document = json.loads((bench_out / "bench.json").read_text())
    assert len(rows) == len(document["results"]) == 3 * len(expected_cells())
    assert {"model", "backend", "mode", "p50_ms", "p90_ms", "p99_ms", "throughput_rps"} <= set(rows[0])


def test_readme_documents_every_column_and_json_key(bench_out: Path) -> None:
    """Users load bench.csv / bench.json into their own tools: the README says what each field is."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    with (bench_out / "bench.csv").open() as f:
        columns = next(csv.reader(f))
    document = json.loads((bench_out / "bench.json").read_text())
    ratio_keys = {key for ratio in document["ratios"] for key in ratio}
    undocumented = [name for name in [*columns, *document, *ratio_keys] if f"`{name}`" not in readme]
    assert not undocumented


def test_chart_and_markdown_are_written(bench_out: Path) -> None:
    png = (bench_out / "bench.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    markdown = (bench_out / "bench.md").read_text()
    assert "| mobilenet_v2 | onnxruntime | int8 | 1 |" in markdown
    assert "Machine:" in markdown


def test_http_cells_must_run_what_the_in_process_cells_run(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout
) -> None:
    """HTTP - pipeline compares one cell two ways: a server (--url) that runs other weights for it (here
    int8.onnx against the bench process's choice) is refused, naming what differs, not timed."""
    from service.cpu import has_vnni
    from service.engines.registry import onnx_file

    if onnx_file(layout, "mobilenet_v2", "int8", "auto", has_vnni()).name == "int8.onnx":
        pytest.skip("this CPU runs int8.onnx either way (no VNNI)")
    other = start_server(ort_int8_weights="unsigned", warm_models='["mobilenet_v2"]')
    args = ["bench", "--model", "mobilenet_v2", "--engine", "onnxruntime", "--threads", "1"]
    args += ["--mode", "pipeline", "--mode", "http", "--runs", "2", "--warmup", "1", "--url", other.url]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)])
    assert result.exit_code == 1
    assert "int8.onnx" in result.output and "int8-signed.onnx" in result.output


def test_a_server_that_is_not_there_stops_the_run_with_one_line(
    layout: ArtifactLayout, tmp_path: Path, server: LiveServer
) -> None:
    """Nothing answering at --url, or not this service (its /healthz a 404): the reason and the URL in
    one line (the first was a long traceback; the second ran every cell and failed each HTTP one), a
    usage error (2) as for bench-browser, and no files."""
    nobody, elsewhere = f"http://127.0.0.1:{free_port()}", f"{server.url}/elsewhere"
    for url, said in [
        (nobody, "no server answers there (ConnectError: [Errno 111] Connection refused)"),
        (elsewhere, f"{elsewhere}/healthz answered HTTP 404: not this service's address"),
    ]:
        out = tmp_path / "out"
        args = ["bench", "--model", "blazeface_short", "--engine", "onnxruntime", "--threads", "1"]
        args += ["--mode", "http", "--runs", "2", "--warmup", "1", "--url", url, "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)], env={"MVA_API_KEY": None})
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == f"error: --url {url}: {said}", result.stderr
        assert not out.exists() or not any(out.iterdir())


def _failed_run(args: list[str], out: Path, env: dict[str, str | None] | None = None) -> tuple[str, dict]:
    """Run bench, which must exit 1 for its failed cells after writing them; its output and bench.json."""
    result = CliRunner().invoke(app, [*args, "--runs", "2", "--warmup", "1", "--out", str(out)], env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output, json.loads((out / "bench.json").read_text())


def test_a_server_that_fails_a_cell_fails_that_cell_only(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A server at --url that answers 401: its HTTP cell failed, with the answer, never timed; the engine
    figures of the same cell are measured and written; the run exits 1 at the end."""
    url = start_server(api_key="not-the-bench-s", warm_models='["blazeface_short"]').url
    args = ["bench", "--model", "blazeface_short", "--engine", "onnxruntime", "--threads", "1"]
    args += ["--mode", "engine", "--mode", "http", "--url", url, "--models-dir", str(layout.root)]
    output, document = _failed_run(args, tmp_path, env={"MVA_API_KEY": None})
    engine, http = document["results"]
    assert engine["mode"] == "engine" and engine["error"] is None and engine["p50_ms"] > 0
    assert http["mode"] == "http" and http["p50_ms"] is None and http["runs"] is None
    assert http["error"].startswith("ServerFailed: /detect?") and "HTTP 401" in http["error"]
    assert "blazeface_short onnxruntime fp32 t1, http: ServerFailed: /detect?" in output
    markdown = (tmp_path / "bench.md").read_text()
    [line] = [line for line in markdown.splitlines() if line.startswith("| blazeface_short | onnxruntime |")]
    assert line.endswith("|  | failed | failed |  |")  # no pipeline mode; HTTP p50, p99 failed; no overhead
    assert f"- blazeface_short onnxruntime fp32 t1, http: {http['error']}" in markdown
    with (tmp_path / "bench.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["error"] for row in rows] == ["", http["error"]]


def test_an_engine_that_raises_fails_its_cells_and_the_others_run(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """BlazeFace's ONNX file damaged in a copy of the models: onnxruntime cannot load it, so its cell
    failed with the engine's error; the LiteRT cell of the same model (its own file) is measured and the
    files are written; exit 1."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(layout.manifest, models / "manifest.json")
    shutil.copytree(layout.build_dir, models / "build")
    (models / "build" / "blazeface_short" / "fp32.onnx").write_bytes(b"not an onnx model")
    args = ["bench", "--model", "blazeface_short", "--engine", "onnxruntime", "--engine", "xnnpack"]
    args += ["--threads", "1", "--mode", "engine", "--models-dir", str(models)]
    output, document = _failed_run(args, tmp_path / "out")
    ort, xnnpack = document["results"]
    assert ort["backend"] == "onnxruntime" and ort["p50_ms"] is None and ort["error"]
    assert xnnpack["backend"] == "litert-xnnpack" and xnnpack["error"] is None and xnnpack["p50_ms"] > 0
    assert "1 of 2 cells x modes failed" in output
    assert (
        "| blazeface_short | onnxruntime | fp32 | 1 | failed | failed | failed |"
        in (tmp_path / "out" / "bench.md").read_text()
    )
    assert (tmp_path / "out" / "bench.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("option", "value"), [("--runs", "0"), ("--runs", "-1"), ("--warmup", "-2")])
def test_run_counts_that_cannot_give_statistics_are_refused_before_running(
    option: str, value: str, layout: ArtifactLayout, tmp_path: Path
) -> None:
    """No timed run would leave a cell without samples (it failed after the warm-up with 'no samples');
    a negative warm-up would be recorded in bench.json as if it had run."""
    args = ["bench", "--model", "blazeface_short", "--engine", "onnxruntime", "--threads", "1"]
    args += ["--mode", "engine", "--runs", "2", "--warmup", "0", option, value]
    args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("given", [["--runs", "3"], ["--warmup", "1"], ["--runs", "200", "--warmup", "20"]])
def test_quick_with_run_counts_of_its_own_is_refused_before_running(
    given: list[str], layout: ArtifactLayout, tmp_path: Path
) -> None:
    """--quick replaced an explicit --runs or --warmup without a word (even one equal to the default):
    the run was not what was asked. Refused (exit 2), naming both, before anything runs."""
    args = ["bench", "--quick", "--model", "blazeface_short", "--engine", "onnxruntime", "--threads", "1"]
    args += ["--mode", "engine", *given, "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "--quick" in said and given[0] in said
    assert not (tmp_path / "out").exists()


def test_the_markdown_header_says_the_reference_kernels_own_run_counts(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """bench.md's header said "3 warm-up per cell" where the reference kernels' cells get 1 (run.py caps
    them): it says their own counts when they differ."""
    out = tmp_path / "out"
    args = ["bench", "--model", "blazeface_short", "--engine", "reference", "--engine", "onnxruntime"]
    args += ["--threads", "1", "--mode", "engine", "--runs", "2", "--warmup", "3", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)])
    assert result.exit_code == 0, result.output
    header = (out / "bench.md").read_text().split("\n\n")[0]
    assert header.endswith("2 runs, 3 warm-up per cell; the reference kernels: 2 runs, 1 warm-up)"), header
