"""The bare ASGI reference server: the same pipeline, no framework."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest

from service.artifacts import ArtifactLayout
from service.bench.floor import floor_server
from tests.conftest import other_service_package


def test_floor_server_classifies_the_body_with_the_same_pipeline(
    layout: ArtifactLayout, images: Path
) -> None:
    with floor_server(layout.root) as (url, _):
        response = httpx.post(url, content=(images / "grace_hopper.bmp").read_bytes(), timeout=30)
        # busy_ms: the same hop with a busy-wait instead of the pipeline (no label), at least that long
        started = time.perf_counter()
        waited = httpx.post(f"{url}/?busy_ms=50", content=b"", timeout=30)
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    assert response.json()["label"] == "military uniform"
    assert waited.status_code == 200 and waited.json() == {} and elapsed_ms >= 50


def test_floor_server_runs_this_code_whatever_package_the_working_folder_holds(
    layout: ArtifactLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m service.bench.floor` imported another checkout's floor and pipeline when bench-goals
    ran from inside it (service/localserver.py, code_env)."""
    floor = other_service_package(tmp_path) / "bench" / "floor.py"
    floor.write_text(floor.read_text().replace('body = b"{}"', 'body = b\'{"code": "the other"}\''))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVA_MODELS_DIR", str(layout.root))  # the other code finds the models too
    with floor_server(layout.root) as (url, _):
        assert httpx.get(f"{url}/", timeout=30).json() == {}


def test_floor_server_leaves_no_log_behind_after_a_good_run(layout: ArtifactLayout) -> None:
    """Every bench-goals run left its floor server's log in the temp folder (dozens there); serve_app's
    are removed after a good run, and so are these now."""
    with floor_server(layout.root) as (url, _):
        log = Path(tempfile.gettempdir()) / f"mobile-vision-api-floor-{url.rsplit(':', 1)[1]}.log"
        assert log.exists()
    assert not log.exists()
