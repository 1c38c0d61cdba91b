from __future__ import annotations

import numpy as np

from service.tasks.detection.decode import Detections
from service.tasks.detection.nms import iou, weighted_nms


def detections(boxes: list[list[float]], scores: list[float]) -> Detections:
    b = np.asarray(boxes, dtype=np.float32)
    keypoints = np.stack([b[:, :2], b[:, 2:]], axis=1)  # two keypoints per box: its corners
    return Detections(np.asarray(scores, dtype=np.float32), b, keypoints)


def test_iou() -> None:
    box = np.array([0, 0, 2, 2], dtype=np.float32)
    others = np.array([[0, 0, 2, 2], [1, 0, 3, 2], [5, 5, 6, 6]], dtype=np.float32)
    assert np.allclose(iou(box, others), [1.0, 1 / 3, 0.0])


def test_overlapping_candidates_are_averaged_by_score() -> None:
    kept = weighted_nms(detections([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], [0.9, 0.3, 0.8]), 0.3)
    assert len(kept) == 2
    assert kept.scores.tolist() == [np.float32(0.9), np.float32(0.8)]
    expected_x0 = (0.9 * 0 + 0.3 * 0.1) / 1.2
    assert np.isclose(kept.boxes[0, 0], expected_x0)
    assert np.isclose(kept.keypoints[0, 0, 0], expected_x0)  # keypoints are averaged the same way
    assert np.allclose(kept.boxes[1], [5, 5, 6, 6])


def test_max_count_and_empty_input() -> None:
    many = detections([[i, 0, i + 0.5, 1] for i in range(5)], [0.5 + i / 10 for i in range(5)])
    assert len(weighted_nms(many, 0.3, max_count=2)) == 2
    empty = weighted_nms(detections([[0, 0, 1, 1]], [0.9]), 0.3)
    assert len(weighted_nms(Detections(empty.scores[:0], empty.boxes[:0], empty.keypoints[:0]), 0.3)) == 0


def test_zero_scores_give_the_best_box_not_nan() -> None:
    kept = weighted_nms(detections([[0, 0, 1, 1], [0.1, 0, 1.1, 1]], [0.0, 0.0]), 0.3)
    assert len(kept) == 1 and np.isfinite(kept.boxes).all() and np.isfinite(kept.keypoints).all()
