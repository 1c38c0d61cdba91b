"""A lab command whose measurement fails: here every request is refused (a text file as the picture,
HTTP 415). It printed a traceback of 90 lines and more; it is one line on stderr and exit code 1,
nothing written, and the servers it started stopped, as its --help says."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.cli import app

# CI-sized: each starts one or more servers and fails at its first timed request
FAILING_MEASUREMENTS = {
    "bench-ab": [
        "bench-ab", "--variant", "a", "--variant", "b:MVA_THREADS=1", "--replicas", "1",
        "--rounds", "1", "--per-round", "1", "--load-seconds", "0",
    ],
    "bench-batching": [
        "bench-batching", "--seconds", "0.2", "--rounds", "1", "--concurrency", "1", "--window", "0",
        "--no-queued",
    ],
    "bench-goals": [
        "bench-goals", "--seconds", "0.2", "--rounds", "1", "--concurrency", "1", "--rss-requests", "5",
        "--no-grid",
    ],
}  # fmt: skip
# what each meets first: bench-ab's 1-client turns and bench-goals' overhead use the lean client
# (ServerFailed), bench-batching's closed-loop load counts the failures (LoadFailed)
SAYS = {
    "bench-ab": "/classify: HTTP 415",
    "bench-batching": "no request succeeded in the measured window",
    "bench-goals": "/classify: HTTP 415",
}


def _servers() -> set[psutil.Process]:
    """The `serve` processes this (the test) process has started, workers included."""
    return {p for p in psutil.Process().children(recursive=True) if "serve" in p.cmdline()}


@pytest.mark.parametrize("command", FAILING_MEASUREMENTS)
def test_a_failed_measurement_ends_a_command_with_one_line(
    command: str, tmp_path: Path, layout: ArtifactLayout, images: Path
) -> None:
    picture = tmp_path / "not-a-picture.jpg"
    picture.write_text("not a picture\n")
    out = tmp_path / "out"
    args = [*FAILING_MEASUREMENTS[command], "--image", str(picture), "--out", str(out)]
    args += ["--models-dir", str(layout.root)]
    args += ["--large-image", str(images / "cat_720p.jpg")] if command == "bench-goals" else []
    before = _servers()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    # the progress notes before it stand; the failure is the last line, and the only one
    *notes, line = result.stderr.strip().splitlines()
    assert line.startswith("error: a measurement failed: ") and SAYS[command] in line, result.stderr
    assert not [note for note in notes if "Traceback" in note or "error" in note], result.stderr
    assert not out.exists() or not list(out.iterdir())  # nothing written
    started = _servers() - before
    assert [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
