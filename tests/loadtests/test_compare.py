"""loadtests/compare.py: the schedule (every service once a round, none always first), the table of
what each service served, a service that fails its warm-up."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from loadtests.compare import (
    MODEL_OPTIONS,
    NotTheSameModel,
    Target,
    check_same_model,
    compare_targets,
    markdown,
    model_option,
    schedule,
    targets,
)
from loadtests.launch import Scenario
from loadtests.report import Summary
from service.settings import ServerSettings, cpu_count
from tests.conftest import PREVIOUS_REPORT, hold_previous
from tests.loadtests.conftest import locust_options, locust_reads


def test_every_service_runs_once_a_round_and_the_order_shifts() -> None:
    order = schedule(["ours", "naive", "bentoml"], 3)
    assert order == [
        (1, "ours"), (1, "naive"), (1, "bentoml"),
        (2, "naive"), (2, "bentoml"), (2, "ours"),
        (3, "bentoml"), (3, "ours"), (3, "naive"),
    ]  # fmt: skip
    assert schedule(["ours"], 2) == [(1, "ours"), (2, "ours")]
    assert schedule([], 2) == []


def _row(service: str, requests: int, failures: int, rps: float) -> dict[str, Any]:
    """A row as measure_row writes it from locust's aggregated summary."""
    summary = Summary("Aggregated", requests, failures, rps, 40.0, 50.0, 60.0)
    return {"round": 1, "service": service, "description": service, "load_1m": 0.5, **summary.as_dict()}


def test_the_table_counts_right_answers_not_fast_errors() -> None:
    """A service answering half its requests with fast 503s made 200 requests a second but served 100:
    the table says 100, and "vs ours" compares what was served; the failures stay in sight."""
    rows = [_row("ours", 3000, 0, 100.0), _row("naive", 6000, 3000, 200.0), _row("bentoml", 900, 900, 30.0)]
    lines = markdown(rows).splitlines()
    assert lines[0] == (
        "| round | service | requests | failures | served/s | vs ours | p50 ms (all) | p95 ms (all) "
        "| p99 ms (all) | load 1m |"
    )  # latency over every request, failed ones too: locust gives no percentiles of right answers
    assert lines[2].startswith("| 1 | ours | 3000 | 0 | 100.0 | 1.00x |")
    assert lines[3].startswith("| 1 | naive | 6000 | 3000 | 100.0 | 1.00x |")
    assert lines[4].startswith("| 1 | bentoml | 900 | 900 | 0.0 | 0.00x |")
    assert [row["served_rps"] for row in rows] == [100.0, 100.0, 0.0]  # what compare.json holds


def test_a_service_that_fails_its_warm_up_gets_a_row_and_the_others_still_run(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ours started with a key the warm-up does not send: its /classify answers 401. Its row says so in
    one line, and the naive service after it is still measured and saved (the 401 ended the whole run)."""
    monkeypatch.delenv("MVA_API_KEY", raising=False)
    monkeypatch.delenv("MVA_API_KEY_FILE", raising=False)
    chosen = [t for t in targets(tmp_path) if t.name in ("ours", "naive")]
    chosen = [
        replace(t, env=(*t.env, ("MVA_API_KEY", "not-sent"))) if t.name == "ours" else t for t in chosen
    ]
    scenario = Scenario(users=1, spawn_rate=1, run_time="2s", max_fail_ratio=1.0, images=images)
    compare_targets(scenario, tmp_path, chosen, 1, Console(file=io.StringIO()))
    ours, naive = json.loads((tmp_path / "compare.json").read_text())["results"]
    assert ours == {
        "round": 1,
        "service": "ours",
        "failed": True,
        "missing": "warm-up: HTTP 401 Unauthorized from /classify",
    }
    assert naive["service"] == "naive" and naive["served_rps"] > 0 and naive["failures"] == 0
    table = (tmp_path / "compare.md").read_text()
    assert "| 1 | ours | not run: warm-up: HTTP 401 Unauthorized from /classify |" in table
    assert "| 1 | naive | " in table


def test_the_previous_tables_are_replaced_whole(images: Path, tmp_path: Path) -> None:
    """compare.md and compare.json are written aside and renamed into place: never rewritten where
    bench-readme reads them (a crash mid-write left a torn file, or a new .md beside an old .json)."""
    held = {name: hold_previous(tmp_path / name) for name in ("compare.md", "compare.json")}
    absent = Target("absent", "not installed here", ("true",), missing="not here")
    compare_targets(Scenario(images=images), tmp_path, [absent], 1, Console(file=io.StringIO()))
    assert "| 1 | absent | not run: not here |" in (tmp_path / "compare.md").read_text()
    assert json.loads((tmp_path / "compare.json").read_text())["results"] == [
        {"round": 1, "service": "absent", "missing": "not here"}
    ]
    assert all(path.read_text() == PREVIOUS_REPORT for path in held.values())


def test_every_spelling_locust_reads_as_a_model_option_is_refused() -> None:
    """Locust's parser takes a prefix of an option as the option (argparse's allow_abbrev): --mva-prec fp32
    ran ours on fp32 and the baselines on int8, as only --mva-precision was refused. Every prefix of every
    --mva-* option, as locust itself reads it: one it reads as a model option is refused, one it reads as
    another option (--mva-thr: threads) is not; one it refuses as ambiguous (--mva-p) may be either."""
    spellings = sorted(
        {option[:end] for option in locust_options() if option.startswith("--mva-")
         for end in range(len("--mva-") + 1, len(option) + 1)}
    )  # fmt: skip
    reads = locust_reads(spellings)
    model_dests = {f"mva_{name}": f"--mva-{name}" for name in MODEL_OPTIONS}
    for spelled, dests in reads.items():
        if dests is None:
            continue
        assert len(dests) == 1, (spelled, dests)
        assert model_option(spelled) == model_dests.get(dests[0]), spelled
        assert model_option(f"{spelled}=1") == model_option(spelled)
    assert reads["--mva-prec"] == ["mva_precision"] and reads["--mva-thr"] == ["mva_threads"]
    assert reads["--mva-p"] is None  # precision or preset: locust refuses it
    with pytest.raises(NotTheSameModel, match=r"--mva-prec \(--mva-precision\), --mva-eng \(--mva-engine\)"):
        check_same_model(["--mva-prec", "fp32", "--mva-eng=litert", "--mva-thr", "2"], {})
    check_same_model(["--mva-thr", "2", "--mva-det", "full", "--mva-images", "x"], {})  # no model option


def test_ours_is_described_by_what_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare.json's description of ours said "onnxruntime int8, 1 thread per request, 2 cores" whatever
    MVA_PRECISION, MVA_THREADS or the host's cores were: it is built from the settings the `serve` it
    starts reads from this environment."""
    for name in ("MVA_ENGINE", "MVA_PRECISION", "MVA_THREADS", "MVA_INFERENCE_CORES", "MVA_WORKERS",
                 "MVA_BATCH_WINDOW_MS", "MVA_BATCH_QUEUED", "MVA_SIMD", "MVA_KERNELS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)

    def ours(vnni: bool = False) -> str:
        return next(t.description for t in targets(tmp_path, vnni) if t.name == "ours")

    cores = ServerSettings().inference_cores
    default = f"1 thread per request, {cores} inference core{'s' if cores > 1 else ''}, 1 uvicorn worker"
    assert ours() == f"this service: onnxruntime int8 (int8.onnx), {default}"
    monkeypatch.setenv("MVA_PRECISION", "fp32")
    monkeypatch.setenv("MVA_INFERENCE_CORES", "1")
    monkeypatch.setenv("MVA_WORKERS", "2")
    monkeypatch.setenv("MVA_BATCH_WINDOW_MS", "5")
    assert ours() == (
        "this service: onnxruntime fp32 (fp32.onnx), 1 thread per request, 1 inference core, "
        "2 uvicorn workers, micro-batching (5 ms window, up to 8)"
    )
    monkeypatch.setenv("MVA_ENGINE", "litert")
    monkeypatch.delenv("MVA_PRECISION")
    monkeypatch.delenv("MVA_BATCH_WINDOW_MS")
    assert ours().startswith("this service: litert int8 (xnnpack kernels), 1 thread per request")
    if cpu_count() >= 2:  # a request's threads up to the cores
        monkeypatch.setenv("MVA_ENGINE", "onnxruntime")
        monkeypatch.setenv("MVA_THREADS", "2")
        monkeypatch.setenv("MVA_INFERENCE_CORES", "2")
        assert ", 2 threads per request, 2 inference cores," in ours()
