"""Raw box and score tensors -> candidate detections (MediaPipe's TensorsToDetectionsCalculator with
reverse_output_order: each box row is x_center, y_center, w, h, then (x, y) per keypoint)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.manifest import DecoderOptions


@dataclass(frozen=True)
class Detections:
    """M detections, coordinates as fractions of the model input."""

    scores: np.ndarray  # [M]
    boxes: np.ndarray  # [M, 4] x_min, y_min, x_max, y_max
    keypoints: np.ndarray  # [M, K, 2] x, y

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def decode(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    options: DecoderOptions,
    min_score: float,
) -> Detections:
    clipped = np.clip(raw_scores, -options.score_clipping_thresh, options.score_clipping_thresh)
    scores = 0.5 + 0.5 * np.tanh(0.5 * clipped)  # sigmoid without exp overflow
    # as MediaPipe, drop boxes the model gives a negative (or NaN) width or height: the anchors' sizes
    # and the scales are positive, so the raw sizes' signs decide
    sized = (raw_boxes[:, 2] >= 0) & (raw_boxes[:, 3] >= 0)
    keep = np.flatnonzero((scores >= min_score) & sized)
    raw = raw_boxes[keep]
    anchor = anchors[keep]
    ax, ay, aw, ah = anchor[:, 0:1], anchor[:, 1:2], anchor[:, 2:3], anchor[:, 3:4]
    x_center = raw[:, 0:1] / options.x_scale * aw + ax
    y_center = raw[:, 1:2] / options.y_scale * ah + ay
    half_w = raw[:, 2:3] / options.w_scale * aw / 2
    half_h = raw[:, 3:4] / options.h_scale * ah / 2
    boxes = np.hstack([x_center - half_w, y_center - half_h, x_center + half_w, y_center + half_h])
    k = options.num_keypoints
    points = raw[:, 4 : 4 + 2 * k].reshape(-1, k, 2)
    keypoints = np.empty_like(points)
    keypoints[..., 0] = points[..., 0] / options.x_scale * aw + ax
    keypoints[..., 1] = points[..., 1] / options.y_scale * ah + ay
    return Detections(scores[keep].astype(np.float32), boxes.astype(np.float32), keypoints.astype(np.float32))
