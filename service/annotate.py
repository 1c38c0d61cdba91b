"""Draw faces (boxes and keypoints) on the decoded picture, for `annotate=true` on /detect."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from service.errors import InvalidSettings
from service.tasks.detection.projection import Face

_COLORS = ["#ff3b30", "#34c759", "#007aff", "#ffcc00", "#af52de", "#5ac8fa"]
# libjpeg's JPEG_MAX_DIMENSION: under the format's own 65,535, and what Pillow's encoder refuses beyond
JPEG_MAX_SIDE = 65_500
# zlib level 1, not Pillow's 6: ~5x faster for a file ~9 % bigger (face.jpg, 512x355), and the encoding is
# most of an annotated answer's time
_ENCODER_OPTIONS: dict[str, dict[str, int]] = {"JPEG": {"quality": 90}, "PNG": {"compress_level": 1}}


def annotate(pixels: np.ndarray, faces: list[Face], original_size: tuple[int, int], fmt: str) -> bytes:
    """`faces` are in original-image pixels; `pixels` (RGB) is the picture decoded whole (the route's
    second decode of a DCT-scaled JPEG): drawn on a reduced decode, boxes would miss by its padding."""
    if fmt == "JPEG" and max(pixels.shape[:2]) > JPEG_MAX_SIDE:
        raise InvalidSettings(
            f"a JPEG has at most {JPEG_MAX_SIDE} pixels a side; this picture is {pixels.shape[1]}x"
            f"{pixels.shape[0]}: ask for format=png",
            field="format",
        )
    canvas = Image.fromarray(pixels, "RGB")  # a copy: the decoded pixels stay as they were
    draw = ImageDraw.Draw(canvas)
    sx, sy = canvas.width / original_size[0], canvas.height / original_size[1]
    line = max(2, round(min(canvas.size) / 200))
    for face in faces:
        draw.rectangle(
            (face.x_min * sx, face.y_min * sy, face.x_max * sx, face.y_max * sy),
            outline="#00ff66",
            width=line,
        )
        for i, point in enumerate(face.keypoints):
            x, y, r = point.x * sx, point.y * sy, line * 1.5
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_COLORS[i % len(_COLORS)])
        draw.text((face.x_min * sx + line, face.y_min * sy + line), f"{face.score:.2f}", fill="#00ff66")
    out = io.BytesIO()
    canvas.save(out, format=fmt, **_ENCODER_OPTIONS[fmt])
    return out.getvalue()
