"""Pictures made in a test, as the bytes of a file a client would send."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """`image` saved in format `fmt` (Pillow's name: "PNG", "JPEG", "GIF"...) with Pillow's save
    `params` (quality, exif, save_all, append_images...)."""
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def noise_jpeg() -> bytes:
    """A 96x96 JPEG of random (seeded) pixels: little of it compresses, so its first 1,500 bytes are a
    picture cut mid-scan."""
    return encoded(
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)), "JPEG"
    )
