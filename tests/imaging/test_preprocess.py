from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from service.imaging.preprocess import Letterbox, min_source_size, preprocess
from service.imaging.tensor import quantization_matches, to_float
from service.manifest import InputSpec

CROP = InputSpec(
    width=224, height=224, layout="NHWC", mean=128, std=128, resize="center_crop", central_fraction=0.875
)
BOX = InputSpec(width=128, height=128, layout="NHWC", mean=127.5, std=127.5, resize="letterbox")


def test_center_crop_drops_the_border() -> None:
    # a 400x400 green picture with a red frame 20 px wide: 20 < 400 * (1 - 0.875) / 2 = 25
    pixels = np.zeros((400, 400, 3), dtype=np.uint8)
    pixels[:, :] = (255, 0, 0)
    pixels[20:380, 20:380] = (0, 255, 0)
    out = preprocess(Image.fromarray(pixels), CROP)
    assert out.pixels.shape == (1, 224, 224, 3) and out.pixels.dtype == np.uint8
    assert (out.pixels[0, :, :, 0] == 0).all()
    assert out.letterbox == Letterbox(0.0, 0.0, 1.0, 1.0)


def test_letterbox_keeps_aspect_ratio_and_pads_black() -> None:
    wide = Image.new("RGB", (256, 128), (255, 255, 255))
    out = preprocess(wide, BOX)
    assert out.pixels.shape == (1, 128, 128, 3)
    assert out.letterbox == Letterbox(0.0, 0.25, 1.0, 0.5)
    assert (out.pixels[0, :32] == 0).all() and (out.pixels[0, 96:] == 0).all()
    assert (out.pixels[0, 32:96] == 255).all()


def test_letterbox_unproject_maps_model_fractions_to_picture_fractions() -> None:
    box = Letterbox(0.0, 0.25, 1.0, 0.5)
    x, y = box.unproject(np.array([0.5, 0.0]), np.array([0.25, 0.75]))
    assert x.tolist() == [0.5, 0.0] and y.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(("size", "expected"), [((1920, 1080), (456, 256)), ((100, 100), (100, 100))])
def test_min_source_size_for_center_crop(size: tuple[int, int], expected: tuple[int, int]) -> None:
    # the crop (87.5% of each side) must still be >= 224 px; never upscale
    assert min_source_size(CROP, *size) == expected


def test_min_source_size_for_letterbox() -> None:
    assert min_source_size(BOX, 1920, 1080) == (128, 72)


def test_to_float_normalizes_and_quantization_check() -> None:
    pixels = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    assert to_float(pixels, CROP).tolist() == [[[[-1.0, 0.0, 127 / 128]]]]
    assert quantization_matches(CROP, 1 / 128, 128)
    assert not quantization_matches(BOX, 1 / 128, 128)
