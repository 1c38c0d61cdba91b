from __future__ import annotations

import numpy as np
import pytest

from service.imaging.preprocess import Letterbox, box_reduce, min_source_size, preprocess, resize
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
    out = preprocess(pixels, CROP)
    assert out.pixels.shape == (1, 224, 224, 3) and out.pixels.dtype == np.uint8
    assert (out.pixels[0, :, :, 0] == 0).all()
    assert out.letterbox == Letterbox(0.0, 0.0, 1.0, 1.0)


def test_letterbox_keeps_aspect_ratio_and_pads_black() -> None:
    wide = np.full((128, 256, 3), 255, dtype=np.uint8)
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


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR's source index and 11-bit weights per output pixel (half-pixel centres,
    float32 arithmetic, clamped at the edges), written out as web/src/resample.mjs does."""
    fx = ((np.arange(n_out) + 0.5) * (1 / (n_out / n_in)) - 0.5).astype(np.float32)
    sx = np.floor(fx).astype(np.int64)
    fx = (fx - sx).astype(np.float32)
    low, high = sx < 0, sx >= n_in - 1
    fx[low], sx[low] = 0, 0
    fx[high], sx[high] = 0, n_in - 1
    w0 = np.rint((np.float32(1) - fx) * 2048).astype(np.int64)
    w1 = np.rint(fx * 2048).astype(np.int64)
    return sx, np.minimum(sx + 1, n_in - 1), w0, w1


def reference_linear(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The resize's integer arithmetic: horizontal pass at 2^11, vertical pass as OpenCV's vector path
    (>> 4, 16-bit high product, + 2 >> 2)."""
    x0, x1, a0, a1 = _taps(pixels.shape[1], width)
    y0, y1, b0, b1 = _taps(pixels.shape[0], height)
    p = pixels.astype(np.int64)
    rows = p[:, x0] * a0[None, :, None] + p[:, x1] * a1[None, :, None]
    top = ((rows[y0] >> 4) * b0[:, None, None]) >> 16
    bottom = ((rows[y1] >> 4) * b1[:, None, None]) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("shape", "size"),
    [((238, 420), (224, 224)), ((270, 480), (128, 72)), ((300, 256), (224, 224)), ((600, 512), (109, 128))],
)
def test_resize_is_exactly_the_fixed_point_bilinear_the_browser_repeats(
    shape: tuple[int, int], size: tuple[int, int]
) -> None:
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    factor = min(shape[1] // size[0], shape[0] // size[1])
    source = box_reduce(pixels, factor) if factor >= 2 else pixels
    assert np.array_equal(resize(pixels, *size), reference_linear(source, *size))


def test_resize_reads_strided_views_without_copying_them_first() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    view = pixels[10:290, 40:460]
    assert not view.flags.c_contiguous
    assert np.array_equal(resize(view, 224, 224), resize(np.ascontiguousarray(view), 224, 224))


def test_box_reduce_averages_blocks_and_drops_the_partial_edge() -> None:
    pixels = np.zeros((5, 5, 3), dtype=np.uint8)
    pixels[0:2, 0:2] = [[0], [1]]  # block sum 2 over 4 pixels: 0.5 rounds up (factor 2)
    pixels[0:2, 2:4] = 255
    pixels[4, :] = 200  # the partial last row is dropped
    out = box_reduce(pixels, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [1, 1, 1] and out[0, 1].tolist() == [255, 255, 255]
    assert out[1].max() == 0


def test_center_crop_takes_tf_central_crop_offsets() -> None:
    # 600 rows: int((600 - 525) / 2) = 37 off each side, 526 kept; a row marker just inside survives
    pixels = np.zeros((600, 512, 3), dtype=np.uint8)
    pixels[37:563, 32:480] = 100
    out = preprocess(pixels, CROP).pixels
    assert (out == 100).all()


def test_box_reduce_rounds_halves_to_even_above_factor_2() -> None:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[0:4, 0:2] = 1  # block sum 8 over 16: 0.5 -> 0
    pixels[0:4, 4:6] = 3  # block sum 24 over 16: 1.5 -> 2
    out = box_reduce(pixels, 4)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 2
