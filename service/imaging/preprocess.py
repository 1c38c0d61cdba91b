"""Decoded image -> pixels at the model's input size, as the model was trained:
MobileNet takes a central crop then a bilinear resize (TF-slim), BlazeFace a letterbox that keeps
the aspect ratio (MediaPipe's ImageToTensor with keep_aspect_ratio). One resize, no extra copies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.manifest import InputSpec


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


def preprocess(image: Image.Image, spec: InputSpec) -> ModelPixels:
    if spec.resize == "center_crop":
        return ModelPixels(_center_crop(image, spec), IDENTITY)
    return _letterbox(image, spec)


def _center_crop(image: Image.Image, spec: InputSpec) -> np.ndarray:
    w, h = image.size
    crop_w, crop_h = w * spec.central_fraction, h * spec.central_fraction
    box = ((w - crop_w) / 2, (h - crop_h) / 2, (w + crop_w) / 2, (h + crop_h) / 2)
    resized = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized)[np.newaxis]


def _letterbox(image: Image.Image, spec: InputSpec) -> ModelPixels:
    w, h = image.size
    scale = min(spec.width / w, spec.height / h)
    new_w = max(1, min(spec.width, round(w * scale)))
    new_h = max(1, min(spec.height, round(h * scale)))
    left, top = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    pixels = np.zeros((1, spec.height, spec.width, 3), dtype=np.uint8)
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    pixels[0, top : top + new_h, left : left + new_w] = np.asarray(resized)
    box = Letterbox(left / spec.width, top / spec.height, new_w / spec.width, new_h / spec.height)
    return ModelPixels(pixels, box)
