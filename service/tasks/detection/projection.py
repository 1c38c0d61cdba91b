"""Detections in model-input fractions -> faces in original-image pixels: remove the letterbox
(MediaPipe's DetectionLetterboxRemovalCalculator), then scale by the picture's size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.imaging.preprocess import Letterbox
from service.tasks.detection.decode import Detections


@dataclass(frozen=True)
class Keypoint:
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class Face:
    score: float
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    keypoints: list[Keypoint]


def project(
    detections: Detections, letterbox: Letterbox, image_size: tuple[int, int], keypoint_names: list[str]
) -> list[Face]:
    width, height = image_size
    scale = np.array([width, height], dtype=np.float32)
    bx, by = letterbox.unproject(detections.boxes[:, 0::2], detections.boxes[:, 1::2])
    kx, ky = letterbox.unproject(detections.keypoints[..., 0], detections.keypoints[..., 1])
    faces = []
    for i, score in enumerate(detections.scores):
        x0, x1 = np.clip(bx[i] * scale[0], 0, width)
        y0, y1 = np.clip(by[i] * scale[1], 0, height)
        points = [
            Keypoint(name, float(kx[i, j] * scale[0]), float(ky[i, j] * scale[1]))
            for j, name in enumerate(keypoint_names)
        ]
        faces.append(Face(float(score), float(x0), float(y0), float(x1), float(y1), points))
    return faces
