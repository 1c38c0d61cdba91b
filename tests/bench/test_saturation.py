"""Saturation: a real CI-sized bench-goals run (the default server and the engine under load), and
how the figures are chosen from the loads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from service.bench.grid_names import DEFAULT, PLAIN
from service.bench.saturation import saturation_figures


def test_the_default_server_and_the_engine_were_loaded_for_real(goals_out: Path) -> None:
    report = json.loads((goals_out / "goals.json").read_text())
    saturation = report["saturation"]
    assert saturation["default"]["failures"] == {} and saturation["default"]["ok"] > 0
    assert saturation["best_engine"].startswith("engine ")
    assert saturation["default_vs_engine"] > 0 and saturation["default_vs_pipeline"] > 0
    assert set(report["loads"]) == {saturation["best_engine"], saturation["best_server"]} | {
        n for n in report["loads"] if n.startswith(("engine ", "pipeline "))
    }
    assert saturation["default"]["rss_mb"] > 50  # the server's memory after the load
    cpu = saturation["server_cpu"]  # where a request's CPU went, by thread (Linux /proc)
    assert cpu["event_loop_ms_per_request"] > 0 and cpu["other_threads_ms_per_request"] > 0
    assert 0 < cpu["server_busy_cores"] <= (os.cpu_count() or 1) + 0.1  # clock-tick granularity


def _load(rps: float) -> dict[str, float]:
    return {"rps": rps, "p50_ms": 30.0, "p99_ms": 40.0}


def test_figures_compare_the_default_with_the_best_engine_measure_and_the_pipeline() -> None:
    loads = {
        "engine onnxruntime int8 t1 x2 callers": _load(350.0),
        "engine onnxruntime int8 t2 x1 caller": _load(300.0),
        "pipeline onnxruntime int8 t1 x2 callers": _load(280.0),
        DEFAULT: _load(252.0),
        PLAIN: _load(266.0),
    }
    figures = saturation_figures(loads, cpu_windows=[])
    assert figures["best_engine"] == "engine onnxruntime int8 t1 x2 callers"
    assert figures["default"] is loads[DEFAULT]
    assert figures["default_vs_engine"] == 0.72 and figures["default_vs_pipeline"] == 0.9
    # the best server configuration may be another than the default; the engine figures are not servers
    assert figures["best_server"] == PLAIN and figures["best_server_vs_engine"] == 0.76
    assert "server_cpu" not in figures  # only with CPU windows (Linux /proc)
