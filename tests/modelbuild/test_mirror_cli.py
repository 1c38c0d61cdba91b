"""`mobile-vision-api models mirror` as a user runs it: the progress on stdout, each mistake one line on
stderr with the exit code its --help lists, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.artifacts import sha256_of
from service.manifest import Manifest
from service.modelbuild.mirror import url_sources
from service.settings import PROJECT_ROOT
from tests.cli import run_cli
from tests.conftest import BROKEN_MANIFESTS, other_service_package, write_broken_manifest


def test_a_source_folder_that_does_not_exist_is_a_usage_error_not_a_missing_file(tmp_path: Path) -> None:
    """It was exit 1, "mirror folder ... has no mobilenet_v2_1.0_224_quant.tflite", on stdout: a file to
    look for in a folder that is not there."""
    missing = tmp_path / "nope"
    result = run_cli("models", "mirror", str(tmp_path / "dest"), "--source", str(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [f"error: mirror folder {missing} does not exist (--source)"]
    assert not (tmp_path / "dest").exists()


def test_a_source_file_of_another_sha256_is_one_line_on_stderr_the_progress_on_stdout(
    mirror: Path, manifest: Manifest, tmp_path: Path
) -> None:
    first, second = url_sources(manifest)
    (mirror / second.filename).write_text("not the file\n")
    dest = tmp_path / "dest"
    result = run_cli("models", "mirror", str(dest), "--source", str(mirror))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{dest / first.filename}: {first.sha256[:12]}… from {mirror}"]
    assert result.stderr.splitlines() == [
        f"error: checksum mismatch for {mirror / second.filename}: expected sha256 {second.sha256}, got "
        f"{sha256_of(mirror / second.filename)}. Refusing to use it."
    ]


def test_a_dest_that_cannot_be_made_is_one_line_on_stderr(mirror: Path, tmp_path: Path) -> None:
    # root ignores permission bits: a file where DEST's parent should be stands for a folder not writable
    (tmp_path / "taken").write_text("a file")
    dest = tmp_path / "taken" / "dest"
    result = run_cli("models", "mirror", str(dest), "--source", str(mirror))
    assert (result.returncode, result.stdout) == (1, "")
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: [Errno ") and str(dest) in error


@pytest.mark.parametrize("said", BROKEN_MANIFESTS)
def test_a_manifest_that_is_none_is_one_line_naming_it(tmp_path: Path, said: str) -> None:
    """The project's manifest.json cut short or missing a key ended `models mirror` in a traceback. Run
    from a copy of the code, whose models/manifest.json is broken (the project's is never touched)."""
    other_service_package(tmp_path)
    manifest = write_broken_manifest(PROJECT_ROOT / "models" / "manifest.json", tmp_path / "models", said)
    result = run_cli("models", "mirror", str(tmp_path / "dest"), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: {manifest}: {said}"), error
