"""The app's shared state, built from real settings and a real models folder (no server needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from service.api.state import AppState
from service.artifacts import ArtifactLayout
from service.settings import ServerSettings
from tests.conftest import models_with_int8_signed


@pytest.mark.parametrize("verified", [False, True])
def test_a_vnni_host_says_once_that_it_holds_back_an_unverified_int8_signed_file(
    layout: ArtifactLayout, tmp_path: Path, caplog: pytest.LogCaptureFixture, verified: bool
) -> None:
    """A models folder built without VNNI, served on a CPU with it (this one may have none: the state
    is told): the server runs int8.onnx and its log says why, once, at start-up."""
    own = models_with_int8_signed(layout, tmp_path / "models", verified)
    with caplog.at_level(logging.WARNING, logger="mobile_vision_api"):
        state = AppState.create(ServerSettings(models_dir=own.root), vnni=True)
        state.registry.int8_file("mobilenet_v2")  # asked again (a runner, /v1/models): no new line
    logged = [record.getMessage() for record in caplog.records]
    held_back = [line for line in logged if "int8-signed.onnx was not verified" in line]
    if verified:
        assert held_back == []
        assert state.registry.int8_file("mobilenet_v2").path.name == "int8-signed.onnx"
    else:
        assert len(held_back) == 1
        assert held_back[0].startswith("mobilenet_v2: onnxruntime runs int8.onnx: this CPU has VNNI, but")
    state.pool.shutdown()
    state.metrics.close()
