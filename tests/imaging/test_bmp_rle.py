from __future__ import annotations

import io

import pytest
from PIL import Image

from service.imaging import bmp_rle
from service.imaging.bmp_rle import (
    CODE_STEPS,
    LONG_CODE_STEPS,
    PADDING_STEPS,
    RLE4_ABSOLUTE_BYTE_STEPS,
    RLE4_RUN_CODE_STEPS,
    RleTile,
    most_steps,
    rle_steps,
    rle_tile,
    takes_more_steps,
)
from tests.pictures import rle_bmp

END_OF_LINE, END_OF_BITMAP = b"\x00\x00", b"\x00\x01"


def tiled(width: int, height: int, codes: bytes, rle4: bool = False) -> tuple[bytes, RleTile]:
    """A BMP made of `codes`, and the tile Pillow's reader finds in its header."""
    data = rle_bmp(width, height, codes, rle4)
    tile = rle_tile(Image.open(io.BytesIO(data)))
    assert tile is not None
    return data, tile


def steps(width: int, height: int, codes: bytes, rle4: bool = False, most: int = 10**9) -> int:
    """The steps of `codes` in a BMP made of them."""
    return rle_steps(*tiled(width, height, codes, rle4), most)


def test_a_code_is_its_steps_and_an_8_bit_run_is_written_whole() -> None:
    """Rows as encoders write them: runs to the row's end, then an end of line (not read after the last
    pixel)."""
    assert steps(100, 2, (b"\x64\x07" + END_OF_LINE) * 2) == 3 * CODE_STEPS
    assert steps(100, 2, (b"\x32\x07\x32\x08" + END_OF_LINE) * 2) == 5 * CODE_STEPS
    absolute_then_run = b"\x00\x64" + bytes(100) + END_OF_LINE + b"\x64\x07"
    assert steps(100, 2, absolute_then_run) == LONG_CODE_STEPS + 2 * CODE_STEPS


def test_rle4_pixels_are_written_a_step_each() -> None:
    """Pillow's decoder alternates a run's two pixels, and splits an absolute run's bytes, in Python."""
    assert (
        steps(100, 2, (b"\x64\x12" + END_OF_LINE) * 2, rle4=True)
        == 2 * (RLE4_RUN_CODE_STEPS + 100) + CODE_STEPS
    )
    absolute = LONG_CODE_STEPS + 50 * RLE4_ABSOLUTE_BYTE_STEPS  # 100 pixels, two a byte
    assert steps(100, 1, b"\x00\x64" + bytes(50), rle4=True) == absolute


def test_an_end_of_line_pads_its_row_a_pixel_at_a_time() -> None:
    """A pixel and an end of line a row: a 16 KiB RLE8 BMP of 4000x4000 held a core 2-4 s."""
    assert steps(4_000, 3, (b"\x01\x07" + END_OF_LINE) * 3) == 3 * (2 * CODE_STEPS + 3_999 * PADDING_STEPS)
    assert steps(4_000, 3, END_OF_LINE * 1_000) == 1_000 * CODE_STEPS  # nothing to pad, still a code


def test_a_run_past_the_rows_end_is_cut_there() -> None:
    """Only an end of line or a delta starts the next row: a run after the row's end writes nothing."""
    assert steps(10, 2, b"\xff\x12" + b"\x0a\x12", rle4=True) == 2 * RLE4_RUN_CODE_STEPS + 10
    delta_then_run = b"\x00\x02\x05\x01" + b"\x05\x12"  # 5 right, 1 up: 5 pixels left in the picture
    assert steps(10, 2, delta_then_run, rle4=True) == LONG_CODE_STEPS + RLE4_RUN_CODE_STEPS + 5


def test_the_count_stops_past_most_or_at_the_end() -> None:
    assert steps(4_000, 4_000, (b"\x01\x07" + END_OF_LINE) * 4_000, most=10_000) == 10_001
    assert steps(100, 100, (b"\x64\x07" + END_OF_LINE) * 3) == 6 * CODE_STEPS  # cut short
    assert steps(100, 100, b"\x64\x07" + END_OF_BITMAP + b"\x64\x07" * 3) == 2 * CODE_STEPS


@pytest.mark.parametrize("rle4", [False, True])
def test_the_walk_ends_with_the_pictures_last_pixel(rle4: bool) -> None:
    codes = (b"\x0a\x01" + END_OF_LINE) * 10 + b"\x0a\x01" * 50  # 10 rows of 10, then codes not read
    run = RLE4_RUN_CODE_STEPS + 10 if rle4 else CODE_STEPS
    assert steps(10, 10, codes, rle4) == 10 * run + 9 * CODE_STEPS


def test_codes_after_an_absolute_run_that_ends_a_byte_off_are_read_from_its_padded_end() -> None:
    """Pillow pads an absolute run to an even position in the file: from an odd offset the codes after
    a run of 3 bytes follow it at once, paired a byte off the codes before it."""
    codes = b"\x00\x03" + bytes(3) + b"\x05\x07" + END_OF_LINE + b"\x08\x07"
    even = rle_bmp(8, 2, codes)
    offset = int.from_bytes(even[10:14], "little") + 1
    data = even[:10] + offset.to_bytes(4, "little") + even[14 : offset - 1] + b"\xff" + codes
    image = Image.open(io.BytesIO(data))
    tile = rle_tile(image)
    assert tile == RleTile(offset, 8, 2, False)
    assert rle_steps(data, tile, 10**9) == LONG_CODE_STEPS + 3 * CODE_STEPS
    assert image.convert("L").tobytes() == bytes([7] * 8 + [0, 0, 0] + [7] * 5)  # Pillow read it so


@pytest.mark.parametrize(
    ("codes", "rle4"),
    [
        ((b"\x01\x07" + END_OF_LINE) * 500, False),  # padding, a step a pixel
        (END_OF_LINE * 2_000, False),  # codes alone
        (b"\x00\x02\x01\x00" * 1_000, False),  # deltas
        (b"\x00\x03\x07\x07" * 1_000, True),  # short absolute runs, RLE4
        (b"\x00\x03\x07\x07\x07\x00" * 1_000, False),  # short absolute runs, RLE8
        ((b"\xff\x12" * 4 + END_OF_LINE) * 500, True),  # whole rows of RLE4 runs
    ],
)
def test_the_bound_from_the_size_is_never_under_the_walks_count(codes: bytes, rle4: bool) -> None:
    data, tile = tiled(1_000, 500, codes, rle4)
    assert rle_steps(data, tile, 10**9) <= most_steps(len(data) - tile.offset, tile)


def test_a_picture_is_walked_only_when_its_bound_exceeds_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the bound the answer is no without a walk; above it, the walk's count decides."""
    data, tile = tiled(4_000, 4_000, (b"\x01\x07" + END_OF_LINE) * 4_000)
    walked = rle_steps(data, tile, 10**9)
    walks: list[int] = []

    def counted(data: bytes | memoryview, tile: RleTile, most: int) -> int:
        walks.append(most)
        return rle_steps(data, tile, most)

    monkeypatch.setattr(bmp_rle, "rle_steps", counted)  # the real walk, counted
    assert not takes_more_steps(data, tile, most_steps(len(data) - tile.offset, tile)) and walks == []
    assert takes_more_steps(data, tile, walked - 1)
    assert not takes_more_steps(data, tile, walked)
    assert walks == [walked - 1, walked]


def test_a_tile_is_read_from_pillows_header() -> None:
    data = rle_bmp(30, 20, b"\x1e\x07" * 20, rle4=True)
    assert rle_tile(Image.open(io.BytesIO(data))) == RleTile(len(data) - 40, 30, 20, True)
    assert rle_tile(Image.open(io.BytesIO(rle_bmp(30, 20, b"")))) is not None
    uncompressed = io.BytesIO()
    Image.new("P", (8, 8)).save(uncompressed, "BMP")
    assert rle_tile(Image.open(uncompressed)) is None
