"""`mobile-vision-api bench-batching` for real, CI-sized: three servers (batching off, a 2 ms window,
queued) under the same closed-loop load, their figures and the mean batch each server reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.cli import app
from tests.conftest import PREVIOUS_REPORT, hold_previous


def test_bench_batching_loads_each_window_and_reads_the_mean_batch(
    tmp_path: Path, layout: ArtifactLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the servers inherit this environment: each configuration sets both batching variables over it
    monkeypatch.setenv("MVA_BATCH_QUEUED", "true")
    args = ["bench-batching", "--seconds", "1", "--rounds", "1", "--concurrency", "4"]
    args += ["--window", "0", "--window", "2", "--out", str(tmp_path), "--models-dir", str(layout.root)]
    held = hold_previous(tmp_path / "batching-t1.json")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "batching-t1.json").read_text())
    assert report["threads"] == 1 and report["concurrency"] == 4
    loads = report["loads"]
    assert list(loads) == ["window 0 ms", "window 2 ms", "queued"]
    for load in loads.values():
        assert load["ok"] > 0 and load["failures"] == {}
    assert loads["window 0 ms"]["mean_batch"] is None  # batching off: no batch histogram entries
    for batching in ("window 2 ms", "queued"):
        assert 1.0 <= loads[batching]["mean_batch"] <= 4  # at most as many as there are clients
    assert "| window 2 ms |" in result.stdout and "| queued |" in result.stdout
    assert held.read_text() == PREVIOUS_REPORT  # replaced whole, not rewritten where it was read
