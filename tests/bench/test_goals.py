"""`mobile-vision-api bench-goals` for real, CI-sized (no grid): the command writes goals.json with a
measured figure for every goal (each goal's module has its own test beside this one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.bench.goals import grid_configurations
from service.cpu import has_vnni
from service.settings import CPU_COUNT, load_server_settings
from tests.conftest import PREVIOUS_REPORT


def test_goals_measures_every_goal_and_writes_goals_json(goals_out: Path) -> None:
    report = json.loads((goals_out / "goals.json").read_text())
    assert (goals_out / "goals.json.held").read_text() == PREVIOUS_REPORT  # replaced whole, not in place
    goals = {"decode_preprocess", "http_overhead", "saturation", "loads", "rss", "auto_vs_bench"}
    assert goals <= set(report)
    assert report["decode_preprocess"]["image"] == "cat_1080p.jpg"
    assert report["decode_preprocess"]["p50_ms"] > 0
    assert report["machine"]["cores"] > 0 and report["took_s"] > 0
    assert "grid" not in report and "batching" not in report  # --no-grid
    # both int8 files timed side by side where the CPU has VNNI (no timing claim here); else only the
    # file the server runs
    weights = report["int8_weights"]
    assert weights["vnni"] is has_vnni()
    if has_vnni():
        assert set(weights["p50_ms"]) == {"int8.onnx", "int8-signed.onnx"} and weights["signed_speedup"] > 0
    else:
        assert set(weights["p50_ms"]) == {"int8.onnx"} and weights["signed_speedup"] is None
    assert all(ms > 0 for ms in weights["p50_ms"].values())


def test_every_grid_configuration_is_one_the_server_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runs bench-goals without the grid: this checks its servers' settings would start (2 workers x
    2 threads once asked for more threads than its inference cores, which start-up refuses)."""
    configurations = grid_configurations()
    assert len(configurations) == 4
    for workers, env in configurations.values():
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = load_server_settings()
        assert settings.threads <= settings.inference_cores
        assert workers * settings.inference_cores >= CPU_COUNT  # together they use every core
