"""Pictures made in a test, as the bytes of a file a client would send."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from service.annotate import annotate
from service.imaging.decode import decode_image
from service.tasks.detection.projection import Face, Keypoint


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


def drawn(data: bytes, answer: dict[str, Any]) -> np.ndarray:
    """The RGB pixels of the picture `data`, decoded whole, with the faces of `answer` (a /detect JSON
    answer) drawn on it as annotate=true draws them: what an annotated answer for the same upload must
    show."""
    whole = decode_image(data, max_pixels=1 << 40)  # a test's own picture: no limit
    faces = [
        Face(
            f["score"],
            f["box"]["x_min"],
            f["box"]["y_min"],
            f["box"]["x_max"],
            f["box"]["y_max"],
            [Keypoint(k["name"], k["x"], k["y"]) for k in f["keypoints"]],
        )
        for f in answer["faces"]
    ]
    png = annotate(whole.pixels, faces, (whole.width, whole.height), "PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def with_repeated_scan(progressive_jpeg: bytes, times: int) -> bytes:
    """The file with its last scan (start-of-scan segment and its coded data) repeated: a valid header,
    and as many scans as wanted."""
    last = progressive_jpeg.rindex(b"\xff\xda")
    end = progressive_jpeg.rindex(b"\xff\xd9")
    return progressive_jpeg[:end] + progressive_jpeg[last:end] * times + progressive_jpeg[end:]
