"""`mobile-vision-api models build` as a user runs it: every mistake is one line and a non-zero exit,
never a traceback, and nothing is written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout


@pytest.fixture
def models_dir(layout: ArtifactLayout, tmp_path: Path) -> Path:
    """A models folder of its own (the manifest only), so that no test writes into models/build."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(layout.manifest, folder / "manifest.json")
    return folder


def build(models_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "models", "build", "--models-dir", str(models_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_unknown_model_in_only_is_refused_naming_the_models(models_dir: Path) -> None:
    result = build(models_dir, "--only", "short", "--only", "mobilenet")
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "error: --only mobilenet: no such model; the manifest has mobilenet_v2, blazeface_short (short), "
        "blazeface_full (full)"
    ]
    assert not (models_dir / "build").exists()
