"""Pictures made in a test, as the bytes of a file a client would send."""

from __future__ import annotations

import io

from PIL import Image


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """`image` saved in format `fmt` (Pillow's name: "PNG", "JPEG", "GIF"...) with Pillow's save
    `params` (quality, exif, save_all, append_images...)."""
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()
