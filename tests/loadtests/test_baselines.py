"""The naive baseline is a real, correct service: same model, right answers, same response shape."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from loadtests.expectations import KNOWN_ANSWERS, check_classify
from service.localserver import LOOPBACK, free_port, running_server
from service.settings import PROJECT_ROOT


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
