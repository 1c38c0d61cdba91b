"""The command-line client against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_classify_prints_labels_and_timing(server: LiveServer, images: Path) -> None:
    result = run_cli("classify", str(images / "grace_hopper.bmp"), "--url", server.url, "--top-k", "3")
    assert result.returncode == 0, result.stderr
    assert "military uniform" in result.stdout
    assert "inference" in result.stdout and "timing (ms)" in result.stdout


def test_detect_json_output(server: LiveServer, images: Path) -> None:
    import json

    result = run_cli("detect", str(images / "face.jpg"), "--model", "full", "--url", server.url, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["faces"]) == 4


def test_client_reports_api_errors(server: LiveServer, images: Path) -> None:
    result = run_cli("classify", str(images / "cat.bmp"), "--simd", "off", "--url", server.url)
    assert result.returncode == 1
    assert "invalid_settings" in result.stdout


def test_models_build_without_mirror_dir_fails_clearly(tmp_path: Path) -> None:
    result = run_cli("models", "build", "--mirror", str(tmp_path / "nope"))
    assert result.returncode == 2
    # on one line, whatever the path's length: rich must not wrap it at 80 columns
    assert f"mirror folder {tmp_path / 'nope'} does not exist\n" in result.stdout
