"""Decoded pixels -> pixels at the model's input size, as each model's own reference pipeline does it:
MobileNet takes TF-slim's central crop (tf.image.central_crop) then a bilinear resize, BlazeFace a
letterbox that keeps the aspect ratio (MediaPipe's ImageToTensor, OpenCV warpAffine INTER_LINEAR on
CPU). The resize is OpenCV's INTER_LINEAR (half-pixel centres, no antialiasing, as tf.image.resize);
a picture still 2x or more the target size is first box-averaged by an integer factor, what DCT
scaling does for JPEGs while they decode. web/src/resample.mjs repeats this arithmetic exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from service.manifest import InputSpec

# Preprocessing runs inside an inference worker that holds its cores; OpenCV must not add threads.
cv2.setNumThreads(1)


@dataclass(frozen=True)
class Letterbox:
    """Where the picture sits inside the model input, as fractions of the input size."""

    left: float
    top: float
    width: float
    height: float

    def unproject(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model-input fractions -> picture fractions (MediaPipe's DetectionLetterboxRemoval)."""
        return (x - self.left) / self.width, (y - self.top) / self.height


@dataclass(frozen=True)
class ModelPixels:
    pixels: np.ndarray  # uint8 [1, H, W, 3]
    letterbox: Letterbox


IDENTITY = Letterbox(0.0, 0.0, 1.0, 1.0)


def min_source_size(spec: InputSpec, width: int, height: int) -> tuple[int, int]:
    """The smallest decoded size of a `width` x `height` picture that loses nothing at this input."""
    if spec.resize == "center_crop":
        scale = max(
            spec.width / (width * spec.central_fraction), spec.height / (height * spec.central_fraction)
        )
    else:
        scale = min(spec.width / width, spec.height / height)
    scale = min(scale, 1.0)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def preprocess(
    pixels: np.ndarray, spec: InputSpec, coverage: tuple[float, float] = (1.0, 1.0)
) -> ModelPixels:
    """`coverage`: the share of the pixels' width and height the picture fills (DecodedImage.coverage),
    so that the letterbox says where the picture itself sits."""
    if spec.resize == "center_crop":
        return ModelPixels(_center_crop(pixels, spec), IDENTITY)
    return _letterbox(pixels, spec, coverage)


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """[H, W, 3] uint8 (a view with strided rows is fine) -> [height, width, 3] uint8."""
    h, w = pixels.shape[:2]
    factor = min(w // width, h // height)
    if factor >= 2:
        pixels = box_reduce(pixels, factor)
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)


def box_reduce(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each factor x factor block, a partial last row or column dropped: OpenCV's INTER_AREA at
    an integer scale (factor 2 rounds half up, larger factors round sum * float32(1 / area) half to
    even, as web/src/resample.mjs repeats)."""
    h, w = pixels.shape[0] // factor, pixels.shape[1] // factor
    return cv2.resize(pixels[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA)


def _center_crop(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    h, w = pixels.shape[:2]
    # tf.image.central_crop's integer offsets: the same margin on both sides
    top = int((h - h * spec.central_fraction) / 2)
    left = int((w - w * spec.central_fraction) / 2)
    return resize(pixels[top : h - top, left : w - left], spec.width, spec.height)[np.newaxis]


def _letterbox(pixels: np.ndarray, spec: InputSpec, coverage: tuple[float, float]) -> ModelPixels:
    h, w = pixels.shape[:2]
    scale = min(spec.width / w, spec.height / h)
    new_w = max(1, min(spec.width, round(w * scale)))
    new_h = max(1, min(spec.height, round(h * scale)))
    left, top = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    canvas = np.zeros((1, spec.height, spec.width, 3), dtype=np.uint8)
    canvas[0, top : top + new_h, left : left + new_w] = resize(pixels, new_w, new_h)
    fill_w, fill_h = coverage
    box = Letterbox(
        left / spec.width, top / spec.height, new_w * fill_w / spec.width, new_h * fill_h / spec.height
    )
    return ModelPixels(canvas, box)
