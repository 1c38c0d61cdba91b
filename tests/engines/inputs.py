"""What the engines' tests feed a runner: a test image as the model's input tensor, made by the
service's own decode and preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.imaging.decode import decode_image
from service.imaging.preprocess import preprocess
from service.manifest import Manifest


def pixels_of(manifest: Manifest, path: Path, model: str = "mobilenet_v2") -> np.ndarray:
    """`path`'s picture as `model`'s input: a batch of one."""
    spec = manifest.get(model)
    return preprocess(decode_image(path.read_bytes(), 10**8).pixels, spec.input).pixels
