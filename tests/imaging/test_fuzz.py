"""Property-based fuzzing of decode + preprocess with hypothesis, seeded with real pictures: any byte
string either gives a correctly shaped model input or one of the service's own errors (which become
4xx), never another exception, and never a hang (hypothesis' per-example deadline)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.errors import ServiceError
from service.imaging.decode import decode_image
from service.imaging.preprocess import min_source_size, preprocess
from service.manifest import InputSpec
from tests.conftest import IMAGES
from tests.pictures import encoded

SPECS = [
    InputSpec(
        width=224, height=224, layout="NHWC", mean=128, std=128, resize="center_crop", central_fraction=0.875
    ),
    InputSpec(width=128, height=128, layout="NHWC", mean=127.5, std=127.5, resize="letterbox"),
]


@cache
def seeds() -> list[bytes]:
    """Small re-encodings of the test photos in every format the service reads."""
    out = []
    for name in ("grace_hopper.bmp", "face.jpg", "cat.bmp"):
        picture = Image.open(IMAGES / name).convert("RGB")
        picture.thumbnail((96, 96))
        for fmt, params in (("JPEG", {"quality": 80}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("BMP", {})):
            out.append(encoded(picture, fmt, **params))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "big_dims"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif len(data) > 24:  # overwrite the header bytes where formats keep their dimensions
            data[16:24] = draw(st.binary(min_size=8, max_size=8))
    return bytes(data)


@settings(
    max_examples=400,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(data=mutated(), spec_index=st.integers(0, 1))
def test_decode_and_preprocess_never_crash(data: bytes, spec_index: int) -> None:
    spec = SPECS[spec_index]
    try:
        decoded = decode_image(data, max_pixels=20_000_000, min_size=lambda w, h: min_source_size(spec, w, h))
    except ServiceError:
        return
    pixels = preprocess(decoded.pixels, spec).pixels
    assert pixels.shape == (1, spec.height, spec.width, 3) and pixels.dtype == np.uint8


def test_seed_corpus_decodes() -> None:
    assert Path(IMAGES).is_dir()
    for data in seeds():
        assert decode_image(data, max_pixels=20_000_000).pixels.shape[2] == 3
