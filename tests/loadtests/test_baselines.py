"""The naive baseline is a real, correct service: same model, right answers, same response shape."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from loadtests.baselines.mobilenet import NaiveClassifier
from loadtests.compare import targets
from loadtests.expectations import KNOWN_ANSWERS, check_classify
from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.engines.registry import onnx_file
from service.localserver import LOOPBACK, free_port, running_server
from service.settings import PROJECT_ROOT, ServerSettings


def test_naive_service_answers_like_ours(images: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", "uvicorn", "loadtests.baselines.naive_app:app", "--host", LOOPBACK,
               "--port", str(port)]  # fmt: skip
    with running_server(command, f"{url}/readyz", tmp_path / "naive.log", cwd=PROJECT_ROOT, timeout_s=60):
        for name in ("grace_hopper.bmp", "cat.bmp", "bird.bmp"):
            picture = (images / name).read_bytes()
            response = httpx.post(f"{url}/classify", files={"image": (name, picture)}, timeout=30)
            assert response.status_code == 200
            assert check_classify(response.json(), KNOWN_ANSWERS[name]) is None


def test_baselines_run_the_file_ours_runs(layout: ArtifactLayout, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make compare` tells the baselines the ONNX file our server runs on this host (int8-signed.onnx
    on a VNNI CPU), so the comparison is about serving, not about the model file."""
    ours = onnx_file(layout, "mobilenet_v2", "int8", ServerSettings().ort_int8_weights, has_vnni()).name
    env = {target.name: dict(target.env) for target in targets(layout.root)}
    assert env["naive"]["BASELINE_ONNX_FILE"] == env["bentoml"]["BASELINE_ONNX_FILE"] == ours
    monkeypatch.setenv("BASELINE_ONNX_FILE", "no-such-model.onnx")
    with pytest.raises(Exception, match=r"no-such-model\.onnx"):
        NaiveClassifier()
