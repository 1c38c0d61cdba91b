"""The bench commands refuse options they cannot run with while parsing them: a usage error (exit 2)
naming the option, before any server starts or model loads. They used to end in tracebacks: a KeyError
for an unknown model, a ValidationError for threads beyond the cores, FileNotFoundError for a models
folder or image that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.cli import app
from service.settings import CPU_COUNT
from tests.conftest import BROKEN_MANIFESTS, write_broken_manifest

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
    # a --url that is no address, checked as the client's: a bad port was a traceback
    (["bench", "--mode", "http", "--url", "http://127.0.0.1:99999"], "--url", "at most 65535"),
    (["bench-browser", "--url", "http://[::1"], "--url", "is not a URL"),
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


@pytest.mark.parametrize("command", ["bench", "bench-goals", "bench-ab", "bench-batching"])
@pytest.mark.parametrize("said", BROKEN_MANIFESTS)
def test_a_models_folder_whose_manifest_is_none_is_a_usage_error_naming_it(
    command: str, said: str, layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A manifest.json cut short or missing a key ended the command in a traceback (JSONDecodeError,
    KeyError, pydantic's report of pages), as no manifest.json there did before."""
    manifest = write_broken_manifest(layout.manifest, tmp_path / "models", said)
    args = [command, "--models-dir", str(manifest.parent), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})  # the path unbroken in rich's box
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert f"Invalid value for '--models-dir' (env var: 'MVA_MODELS_DIR'): {manifest}: {said}" in text
