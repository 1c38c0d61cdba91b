"""BlazeFace output -> faces, in MediaPipe's stages: anchors.py (SsdAnchors), decode.py
(TensorsToDetections), nms.py (NonMaxSuppression, weighted), projection.py (DetectionLetterboxRemoval
and scaling to image pixels)."""

from __future__ import annotations

import numpy as np

from service.imaging.preprocess import Letterbox
from service.manifest import ModelSpec
from service.tasks.detection.anchors import anchors_for
from service.tasks.detection.decode import Detections, decode
from service.tasks.detection.nms import weighted_nms
from service.tasks.detection.projection import Face, project


def detect(
    outputs: list[np.ndarray],
    spec: ModelSpec,
    letterbox: Letterbox,
    image_size: tuple[int, int],
    min_score: float | None = None,
    iou_threshold: float | None = None,
    max_faces: int | None = None,
) -> list[Face]:
    assert spec.decoder is not None and spec.anchors is not None
    decoder = spec.decoder
    raw_boxes, raw_scores = _split_outputs(outputs, decoder.num_coords)
    candidates = decode(
        raw_boxes,
        raw_scores,
        anchors_for(spec.anchors),
        decoder,
        decoder.min_score_thresh if min_score is None else min_score,
    )
    kept = weighted_nms(
        candidates,
        decoder.min_suppression_threshold if iou_threshold is None else iou_threshold,
        max_faces,
    )
    return project(kept, letterbox, image_size, decoder.keypoint_names)


def _split_outputs(outputs: list[np.ndarray], num_coords: int) -> tuple[np.ndarray, np.ndarray]:
    """(boxes [N, num_coords], scores [N]); the two heads are told apart by their width."""
    by_width = {o.shape[-1]: o for o in outputs}
    return by_width[num_coords].reshape(-1, num_coords), by_width[1].reshape(-1)


__all__ = ["Detections", "Face", "detect"]
