"""Fixtures of the model build's tests: a models folder of their own and a mirror of the source files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout
from service.manifest import Manifest


@pytest.fixture
def own_layout(layout: ArtifactLayout, tmp_path: Path) -> ArtifactLayout:
    """A models folder of its own (the manifest only): these tests build, never into models/build."""
    root = tmp_path / "models"
    root.mkdir()
    shutil.copy(layout.manifest, root / "manifest.json")
    return ArtifactLayout(root)


@pytest.fixture
def mirror(layout: ArtifactLayout, manifest: Manifest, tmp_path: Path) -> Path:
    """Every source file under its manifest name, from the built models (no download)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for spec in manifest.models.values():
        shutil.copy(layout.tflite(spec.name), folder / spec.source.filename)
        if spec.labels is not None:
            shutil.copy(layout.labels(spec.name), folder / spec.labels.filename)
    return folder
