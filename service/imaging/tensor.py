"""Model pixels -> the tensor an engine feeds: float32 (pixel - mean) / std, or the uint8 pixels
themselves when the model is quantized with exactly that normalization."""

from __future__ import annotations

import numpy as np

from service.manifest import InputSpec


def to_float(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    out = np.empty(pixels.shape, dtype=np.float32)
    np.subtract(pixels, np.float32(spec.mean), out=out, dtype=np.float32)
    out *= np.float32(1.0 / spec.std)
    return out


def quantization_matches(spec: InputSpec, scale: float, zero_point: int) -> bool:
    """True when uint8 pixels are already the quantized model input (q = pixel)."""
    return abs(scale * spec.std - 1.0) < 1e-6 and abs(zero_point - spec.mean) < 1e-6
