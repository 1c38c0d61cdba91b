"""Weighted non-maximum suppression as MediaPipe's NonMaxSuppressionCalculator (algorithm WEIGHTED,
overlap IoU): each kept face is the score-weighted mean of the candidates that overlap the best one
by more than the threshold; its score stays the best one's."""

from __future__ import annotations

import numpy as np

from service.tasks.detection.decode import Detections


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(detections: Detections, threshold: float, max_count: int | None = None) -> Detections:
    remaining = np.argsort(-detections.scores, kind="stable")
    scores: list[float] = []
    boxes: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    while remaining.size and (max_count is None or len(scores) < max_count):
        best = remaining[0]
        overlap = iou(detections.boxes[best], detections.boxes[remaining])
        group = remaining[overlap > threshold]
        remaining = remaining[overlap <= threshold]
        if group.size == 0:  # a degenerate (zero-area) box overlaps nothing, not even itself
            group = np.array([best])
            remaining = remaining[remaining != best]
        weights = detections.scores[group]
        total = weights.sum()
        if total <= 0:  # scores that underflowed to 0 (min_score=0): the best one alone, unweighted
            group, weights, total = group[:1], np.ones(1, dtype=np.float32), np.float32(1)
        boxes.append((detections.boxes[group] * weights[:, None]).sum(axis=0) / total)
        keypoints.append((detections.keypoints[group] * weights[:, None, None]).sum(axis=0) / total)
        scores.append(detections.scores[best])
    k = detections.keypoints.shape[1]
    return Detections(
        np.asarray(scores, dtype=np.float32),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(keypoints, dtype=np.float32).reshape(-1, k, 2),
    )
