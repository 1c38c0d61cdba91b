"""Real CI-sized runs of the latency lab's commands, shared by the tests of what they write and of the
README blocks made from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.cli import app
from service.settings import CPU_COUNT
from tests.conftest import hold_previous


@pytest.fixture(scope="session")
def bench_out(tmp_path_factory: pytest.TempPathFactory, layout: ArtifactLayout) -> Path:
    """`bench` on a tiny matrix: two models, onnxruntime and XNNPACK, 1 and all threads."""
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", "--quick", "--model", "blazeface_short", "--model", "mobilenet_v2"]
    args += ["--engine", "onnxruntime", "--engine", "xnnpack", "--threads", "1", "--threads", str(CPU_COUNT)]
    args += ["--out", str(out), "--models-dir", str(layout.root)]  # --quick: 10 runs, 2 warm-up
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| model | engine | precision | threads |" in result.stdout
    return out


@pytest.fixture(scope="session")
def goals_out(tmp_path_factory: pytest.TempPathFactory, layout: ArtifactLayout, images: Path) -> Path:
    """`bench-goals` CI-sized (no grid)."""
    out = tmp_path_factory.mktemp("goals")
    hold_previous(out / "goals.json")  # test_goals.py checks it was replaced, not rewritten
    args = ["bench-goals", "--seconds", "1", "--rounds", "2", "--concurrency", "2", "--rss-requests", "40"]
    args += ["--no-grid"]
    args += ["--large-image", str(images / "cat_1080p.jpg"), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(layout.root)])
    assert result.exit_code == 0, result.output
    return out
