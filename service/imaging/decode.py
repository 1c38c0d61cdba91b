"""Bytes -> RGB image. Limits are checked before pixels are decoded; large JPEGs are decoded at a
reduced DCT scale (libjpeg's 1/2, 1/4, 1/8) never below the size the model needs."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import CorruptImage, ImageTooLarge, MissingImage, UnsupportedMediaType

# What Pillow raises for damaged data (found by tests/imaging/test_fuzz.py).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)
# Orientations 5..8 swap width and height (EXIF tag 0x0112).
_SWAPS_AXES = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied, possibly DCT-downscaled
    width: int  # of the original picture, after EXIF orientation
    height: int
    format: str

    @property
    def downscale(self) -> float:
        """Original width over decoded width (1.0 when decoded at full size)."""
        return self.width / self.image.width


MinSize = Callable[[int, int], tuple[int, int]]


def decode_image(data: bytes | memoryview, max_pixels: int, min_size: MinSize | None = None) -> DecodedImage:
    """Decode `data`. `min_size(width, height)` of the upright picture gives the smallest decoded size
    the caller can use, which allows DCT downscaling of JPEGs down to it."""
    if len(data) == 0:
        raise MissingImage("the request body is empty: send an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnsupportedMediaType(
            "the body is not an image format this service reads (JPEG, PNG, ...)"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(str(exc)) from exc
    except _DECODE_ERRORS as exc:  # a known format whose header is damaged
        raise CorruptImage(f"the image header could not be read: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    fmt = image.format or "unknown"
    try:
        # PNG keeps EXIF after the pixels, so reading it may already decode (and fail on truncation)
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if min_size is not None and fmt == "JPEG":
            swapped = orientation in _SWAPS_AXES
            want_w, want_h = min_size(*((height, width) if swapped else (width, height)))
            if swapped:
                want_w, want_h = want_h, want_w
            # draft keeps each side >= the requested size; "RGB" lets libjpeg convert YCbCr itself.
            image.draft("RGB" if image.mode != "CMYK" else None, (want_w, want_h))
        image.seek(0)  # first frame of an animation
        image.load()
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the {fmt} image could not be decoded: {exc}") from exc
    image = _to_rgb(ImageOps.exif_transpose(image) if orientation != 1 else image)
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return DecodedImage(image=image, width=width, height=height, format=fmt)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: keep the top 8 bits (Pillow's convert("L") would clip at 255)
        wide = np.asarray(image, dtype=np.uint32)
        shift = 8 if mode.startswith("I;16") or wide.max(initial=0) > 255 else 0
        return Image.fromarray((wide >> shift).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L").convert("RGB")
    if (mode == "P" and "transparency" in image.info) or mode in ("PA", "LA", "RGBa", "La"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        # Composite over black, as a browser canvas reads transparent pixels (0, 0, 0, 0).
        background = Image.new("RGB", image.size, (0, 0, 0))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")  # L, P, CMYK, YCbCr, 1, ...
