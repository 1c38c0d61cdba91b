"""In-process timing: the runners are built as the server builds them."""

from __future__ import annotations

import pytest

from service.artifacts import ArtifactLayout
from service.bench.inprocess import InProcess
from service.bench.matrix import Cell
from service.engines.onnx import OnnxRuntimeRunner
from service.manifest import Manifest


@pytest.mark.parametrize("spinning", [True, False])
def test_in_process_runners_spin_as_the_servers_do(
    layout: ArtifactLayout, manifest: Manifest, monkeypatch: pytest.MonkeyPatch, spinning: bool
) -> None:
    """With MVA_ORT_SPINNING=true the bench's server spun and its in-process cells did not: HTTP -
    pipeline compared two configurations, and no answer's settings says it for same_settings to see."""
    monkeypatch.setenv("MVA_ORT_SPINNING", str(spinning).lower())
    runner = InProcess(layout, manifest).runner(Cell("mobilenet_v2", "onnxruntime", "fp32", None, 2))
    assert isinstance(runner, OnnxRuntimeRunner)
    # the options onnxruntime holds for the session: what it really got, whatever the runner asked
    options = runner._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if spinning else "0")
