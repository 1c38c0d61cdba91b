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


def test_a_models_folder_without_a_manifest_is_named(tmp_path: Path) -> None:
    result = build(tmp_path, "--only", "short")
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"error: no manifest.json in {tmp_path}: --models-dir (MVA_MODELS_DIR) should be the models folder "
        "(manifest.json, build/)"
    ]


def test_a_build_folder_that_cannot_be_written_is_one_line(models_dir: Path) -> None:
    # root ignores permission bits, so a file where the build folder should be stands for a
    # folder the build cannot write into
    (models_dir / "build").write_text("not a folder")
    result = build(models_dir, "--only", "short")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    error = result.stdout.splitlines()[-1]
    assert error.startswith("error: [Errno ") and str(models_dir / "build") in error


def test_an_images_folder_that_does_not_exist_is_refused_not_replaced_by_noise(
    models_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "imgaes"
    result = build(models_dir, "--only", "short", "--images", str(missing))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"error: images folder {missing} does not exist"
    assert not (models_dir / "build" / "lock.json").exists()


def test_an_images_folder_without_pictures_or_with_a_broken_one_is_refused(
    models_dir: Path, tmp_path: Path, images: Path
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture")
    result = build(models_dir, "--only", "short", "--images", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert (
        result.stdout.splitlines()[-1]
        == f"error: images folder {folder} holds no .bmp, .jpeg, .jpg, .png file"
    )
    shutil.copy(images / "cat.bmp", folder / "cat.bmp")
    (folder / "cut.jpg").write_bytes((images / "face.jpg").read_bytes()[:200])
    result = build(models_dir, "--only", "short", "--images", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"error: {folder / 'cut.jpg'}: ")
    assert not (models_dir / "build" / "lock.json").exists()
