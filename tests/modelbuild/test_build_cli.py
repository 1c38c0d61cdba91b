"""`mobile-vision-api models build` as a user runs it: every mistake is one line on stderr (stdout holds
the progress only) and a non-zero exit, never a traceback, and nothing is written; a build writes the
same bytes on every run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout, sha256_of
from service.manifest import Manifest
from tests.conftest import BROKEN_MANIFESTS, write_broken_manifest


@pytest.fixture
def models_dir(layout: ArtifactLayout, tmp_path: Path) -> Path:
    """A models folder of its own (the manifest only), so that no test writes into models/build."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(layout.manifest, folder / "manifest.json")
    return folder


def build(
    models_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`env`: variables set on top of this process's."""
    return subprocess.run(
        [sys.executable, "-m", "service", "models", "build", "--models-dir", str(models_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def test_an_unknown_model_in_only_is_refused_naming_the_models(models_dir: Path) -> None:
    result = build(models_dir, "--only", "short", "--only", "mobilenet")
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: --only mobilenet: no such model; the manifest has mobilenet_v2, blazeface_short (short), "
        "blazeface_full (full)"
    ]
    assert not (models_dir / "build").exists()


def test_a_models_folder_without_a_manifest_is_named(tmp_path: Path) -> None:
    result = build(tmp_path, "--only", "short")
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: no manifest.json in {tmp_path}: --models-dir (MVA_MODELS_DIR) should be the models folder "
        "(manifest.json, build/)"
    ]


@pytest.mark.parametrize("said", BROKEN_MANIFESTS)
def test_a_manifest_that_is_none_is_a_usage_error_naming_it(
    layout: ArtifactLayout, tmp_path: Path, said: str
) -> None:
    """A manifest.json cut short or missing a key ended the build in a traceback (JSONDecodeError,
    KeyError, pydantic's report of pages): it is --models-dir's problem, as no manifest.json there."""
    manifest = write_broken_manifest(layout.manifest, tmp_path / "models", said)
    result = build(tmp_path / "models", "--only", "short")
    assert (result.returncode, result.stdout) == (2, "")
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: {manifest}: {said}"), error
    assert not (tmp_path / "models" / "build").exists()


def test_a_mirror_folder_that_is_none_is_a_usage_error_named_as_typed(
    models_dir: Path, tmp_path: Path
) -> None:
    """The error was on stdout, mixed with the progress, and read as rich markup: `mirror[old]` lost
    its `[old]`, so the folder named was not the one typed."""
    missing = tmp_path / "mirror[old]"
    result = build(models_dir, "--mirror", str(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: mirror folder {missing} does not exist (--mirror / MVA_MODEL_MIRROR)"
    ]
    missing.write_text("a file")
    result = build(models_dir, env={"MVA_MODEL_MIRROR": str(missing)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: mirror folder {missing} is no folder (--mirror / MVA_MODEL_MIRROR)"
    ]


def test_a_mirror_file_of_another_sha256_is_one_line_on_stderr_the_progress_on_stdout(
    models_dir: Path, mirror: Path, manifest: Manifest
) -> None:
    spec = manifest.get("short")
    wrong = mirror / spec.source.filename
    wrong.write_bytes(b"not the model")
    result = build(models_dir, "--mirror", str(mirror), "--only", "short")
    assert result.returncode == 1
    assert result.stdout.startswith(f"{spec.name}: ") and "error" not in result.stdout
    assert result.stderr.splitlines() == [
        f"error: checksum mismatch for {wrong}: expected sha256 {spec.source.sha256}, got "
        f"{sha256_of(wrong)}. Refusing to use it."
    ]
    assert not (models_dir / "build" / "lock.json").exists()


def test_progress_lines_give_paths_as_they_are(models_dir: Path, tmp_path: Path, manifest: Manifest) -> None:
    """Progress went through rich markup: a mirror folder named `mirror[bold]` lost its `[bold]` (taken
    for a style) in the progress line that names the file read."""
    spec = manifest.get("mobilenet_v2")  # a URL source: its progress line names the mirror's file
    mirror = tmp_path / "mirror[bold]"
    mirror.mkdir()
    (mirror / spec.source.filename).write_bytes(b"not the model")  # the build stops at its checksum
    result = build(models_dir, "--mirror", str(mirror), "--only", "mobilenet_v2")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(mirror / spec.source.filename) in result.stdout


def test_a_build_folder_that_cannot_be_written_is_one_line(models_dir: Path) -> None:
    # root ignores permission bits, so a file where the build folder should be stands for a
    # folder the build cannot write into
    (models_dir / "build").write_text("not a folder")
    result = build(models_dir, "--only", "short")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: [Errno ") and str(models_dir / "build") in error


def test_an_images_folder_that_is_none_is_a_usage_error_not_replaced_by_noise(
    models_dir: Path, tmp_path: Path
) -> None:
    """A usage error, as a --mirror folder that is none (it was exit 1, a verification failure)."""
    missing = tmp_path / "imgaes"
    result = build(models_dir, "--only", "short", "--images", str(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: images folder {missing} does not exist (--images / MVA_VERIFY_IMAGES)"
    ]
    missing.write_text("a file")
    result = build(models_dir, "--only", "short", env={"MVA_VERIFY_IMAGES": str(missing)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: images folder {missing} is no folder (--images / MVA_VERIFY_IMAGES)"
    ]
    assert not (models_dir / "build").exists()


def test_an_images_folder_without_pictures_or_with_a_broken_one_is_refused(
    models_dir: Path, tmp_path: Path, images: Path
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture")
    result = build(models_dir, "--only", "short", "--images", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: images folder {folder} holds no .bmp, .jpeg, .jpg, .png file"
    ]
    shutil.copy(images / "cat.bmp", folder / "cat.bmp")
    (folder / "cut.jpg").write_bytes((images / "face.jpg").read_bytes()[:200])
    result = build(models_dir, "--only", "short", "--images", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: {folder / 'cut.jpg'}: ")
    assert not (models_dir / "build" / "lock.json").exists()


def test_a_source_of_another_input_size_than_the_manifest_says_is_one_line(models_dir: Path) -> None:
    """A source bumped to a model of another size, its manifest entry not: LiteRT refused the tensor
    (a ValueError, a traceback), now the build names the file and both sizes."""
    manifest = json.loads((models_dir / "manifest.json").read_text())
    short = manifest["models"]["blazeface_short"]
    short["source"] = manifest["models"]["blazeface_full"]["source"]  # 192x192, the entry says 128x128
    (models_dir / "manifest.json").write_text(json.dumps(manifest))
    result = build(models_dir, "--only", "short")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: blazeface_short: face_detection_full_range.tflite takes input 1x192x192x3, "
        "the manifest says 1x128x128x3"
    ]
    assert not (models_dir / "build" / "lock.json").exists()


def test_two_builds_write_the_same_bytes_and_lock_the_same_hashes(
    layout: ArtifactLayout, mirror: Path, tmp_path: Path
) -> None:
    """lock.json's sha256 identify a build: two machines, or two images, compare by them. tflite2onnx
    keeps a graph's tensors in sets, which iterate in memory-address order, different in every process
    (and string hashes differ with PYTHONHASHSEED): each build wrote the same graph in another order.
    MobileNetV2 covers the int8 passes (int8-signed.onnx too), BlazeFace a float graph with two
    outputs; each has an fp32-batch1.onnx, written before the batch is made symbolic."""
    builds = []
    for seed in ("1", "2"):
        folder = tmp_path / f"models-{seed}"
        folder.mkdir()
        shutil.copy(layout.manifest, folder / "manifest.json")
        models = ("--only", "mobilenet_v2", "--only", "short")
        result = build(folder, "--mirror", str(mirror), *models, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stdout + result.stderr
        builds.append(ArtifactLayout(folder))
    first, second = builds
    onnx_files = sorted(path.relative_to(first.build_dir) for path in first.build_dir.glob("*/*.onnx"))
    assert len(onnx_files) == 6  # int8, int8-signed, fp32, fp32-batch1; fp32, fp32-batch1
    assert sorted(p.relative_to(second.build_dir) for p in second.build_dir.glob("*/*.onnx")) == onnx_files
    for name in onnx_files:
        assert (first.build_dir / name).read_bytes() == (second.build_dir / name).read_bytes(), name
    first_hashes, second_hashes = (
        {model: entry["files"] for model, entry in own.read_lock()["models"].items()} for own in builds
    )
    assert first_hashes == second_hashes
