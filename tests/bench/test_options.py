"""The bench commands refuse options they cannot run with while parsing them: a usage error (exit 2)
naming the option, before any server starts or model loads. They used to end in tracebacks: a KeyError
for an unknown model, a ValidationError for threads beyond the cores, FileNotFoundError for a models
folder or image that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.settings import CPU_COUNT

BAD = [
    (["bench", "--model", "nope"], "--model", "choose from mobilenet_v2"),
    (["bench", "--threads", "0"], "--threads", ""),
    (["bench", "--threads", str(CPU_COUNT + 1)], "--threads", ""),
    (["bench", "--image", "{missing}/x.jpg"], "--image", "does not exist"),
    (["bench", "--models-dir", "{missing}"], "--models-dir", "no manifest.json"),
    (["bench-goals", "--models-dir", "{empty}"], "--models-dir", "no manifest.json"),
    (["bench-goals", "--rounds", "0"], "--rounds", ""),
    (["bench-goals", "--large-image", "{missing}/cat.jpg"], "--large-image", "does not exist"),
    (["bench-batching", "--window", "-1"], "--window", ""),
    (["bench-batching", "--threads", str(CPU_COUNT + 1)], "--threads", ""),
    (["bench-ab", "--models-dir", "{empty}"], "--models-dir", "no manifest.json"),
    (["bench-ab", "--image", "{empty}"], "--image", "is a directory"),
    (["bench-browser", "--images", "{missing}"], "--images", "does not exist"),
    (["bench-browser", "--iterations", "0"], "--iterations", ""),
]


@pytest.mark.parametrize(("args", "option", "reason"), BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_an_option_the_command_cannot_run_with_is_a_usage_error(
    args: list[str], option: str, reason: str, tmp_path: Path
) -> None:
    paths = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path)}
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*(a.format(**paths) for a in args), "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
    assert f"Invalid value for '{option}'" in text or f"Invalid value for {option}" in text
    assert reason in text
    assert not out.exists()
