from __future__ import annotations

import io

import pytest
from PIL import Image

from service.imaging.bmp_rle import RleTile, rle_steps, rle_tile
from tests.pictures import rle_bmp

END_OF_LINE, END_OF_BITMAP = b"\x00\x00", b"\x00\x01"


def steps(width: int, height: int, codes: bytes, rle4: bool = False, most: int = 10**9) -> int:
    """The steps of `codes` in a BMP made of them, from the tile Pillow's reader finds in its header."""
    data = rle_bmp(width, height, codes, rle4)
    tile = rle_tile(Image.open(io.BytesIO(data)))
    assert tile is not None
    return rle_steps(data, tile, most)


def test_a_code_is_a_step_and_an_8_bit_run_is_written_whole() -> None:
    """Rows as encoders write them: runs to the row's end, then an end of line (not read after the last
    pixel)."""
    assert steps(100, 2, (b"\x64\x07" + END_OF_LINE) * 2) == 3
    assert steps(100, 2, (b"\x32\x07\x32\x08" + END_OF_LINE) * 2) == 5
    assert steps(100, 2, b"\x00\x64" + bytes(100) + END_OF_LINE + b"\x64\x07") == 3  # absolute, then a run


def test_rle4_pixels_are_written_a_step_each() -> None:
    """Pillow's decoder alternates a run's two pixels, and splits an absolute run's bytes, in Python."""
    assert steps(100, 2, (b"\x64\x12" + END_OF_LINE) * 2, rle4=True) == 2 * (1 + 100) + 1
    assert steps(100, 1, b"\x00\x64" + bytes(50), rle4=True) == 1 + 50  # 100 pixels, two a byte


def test_an_end_of_line_pads_its_row_a_pixel_at_a_time() -> None:
    """A pixel and an end of line a row: a 16 KiB RLE8 BMP of 4000x4000 held a core 4 s."""
    assert steps(4_000, 3, (b"\x01\x07" + END_OF_LINE) * 3) == 3 * (2 + 3_999)
    assert steps(4_000, 3, END_OF_LINE * 1_000) == 1_000  # at a row's start: nothing to pad, still a step


def test_a_run_past_the_rows_end_is_cut_there() -> None:
    """Only an end of line or a delta starts the next row: a run after the row's end writes nothing."""
    assert steps(10, 2, b"\xff\x12" + b"\x0a\x12", rle4=True) == 1 + 10 + 1
    assert steps(10, 2, b"\x00\x02\x05\x01" + b"\x05\x12", rle4=True) == 1 + 1 + 5  # delta: 5 right, 1 up


def test_the_count_stops_past_most_or_at_the_end() -> None:
    assert steps(4_000, 4_000, (b"\x01\x07" + END_OF_LINE) * 4_000, most=10_000) == 10_001
    assert steps(100, 100, (b"\x64\x07" + END_OF_LINE) * 3) == 6  # cut short
    assert steps(100, 100, b"\x64\x07" + END_OF_BITMAP + b"\x64\x07" * 3) == 2


@pytest.mark.parametrize("rle4", [False, True])
def test_the_walk_ends_with_the_pictures_last_pixel(rle4: bool) -> None:
    codes = (b"\x0a\x01" + END_OF_LINE) * 10 + b"\x0a\x01" * 50  # 10 rows of 10, then codes not read
    assert steps(10, 10, codes, rle4) == 10 * (1 + (10 if rle4 else 0)) + 9


def test_a_tile_is_read_from_pillows_header() -> None:
    data = rle_bmp(30, 20, b"\x1e\x07" * 20, rle4=True)
    assert rle_tile(Image.open(io.BytesIO(data))) == RleTile(len(data) - 40, 30, 20, True)
    assert rle_tile(Image.open(io.BytesIO(rle_bmp(30, 20, b"")))) is not None
    uncompressed = io.BytesIO()
    Image.new("P", (8, 8)).save(uncompressed, "BMP")
    assert rle_tile(Image.open(uncompressed)) is None
