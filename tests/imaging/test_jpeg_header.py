from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from service.imaging.jpeg_header import header_steps
from tests.pictures import encoded

EMPTY_COMMENT = b"\xff\xfe\x00\x02"


def plain() -> bytes:
    return encoded(Image.new("RGB", (8, 8), (10, 20, 30)), "JPEG")


def test_a_marker_is_a_step_and_so_is_each_stray_or_fill_byte() -> None:
    """Pillow's reader takes them one at a time (JpegImagePlugin's header loop)."""
    data = plain()
    markers = header_steps(data, 100)  # APP0, DQT x2, SOF0, DHT x4, SOS
    assert markers == 9
    assert header_steps(data[:2] + EMPTY_COMMENT * 5 + data[2:], 100) == markers + 5
    first_segment_end = 4 + int.from_bytes(data[4:6], "big")
    stray = data[:first_segment_end] + b"\x00\x01\xff\x00" + b"\xff" * 3 + data[first_segment_end:]
    assert header_steps(stray, 100) == markers + 7


def test_segment_contents_are_not_steps() -> None:
    """A segment's bytes (an EXIF block, a thumbnail with markers of its own) are skipped by its length."""
    exif = Image.Exif()
    exif[0x010E] = "\xff\xfe" * 1000  # ImageDescription: marker-like bytes inside the EXIF block
    data = encoded(Image.new("RGB", (8, 8)), "JPEG", exif=exif)
    assert header_steps(data, 100) == header_steps(plain(), 100) + 1  # the APP1 segment


def test_the_count_stops_past_most() -> None:
    data = plain()
    assert header_steps(data[:2] + EMPTY_COMMENT * 1_000 + data[2:], most=10) == 11


@pytest.mark.parametrize("name", ["face.jpg", "cat_1080p.jpg"])
def test_photos_take_a_few_dozen_steps(images: Path, name: str) -> None:
    assert header_steps((images / name).read_bytes(), 100) < 30


@pytest.mark.parametrize("cut", [b"\xff\xd8\xff\xe1\x05", b"\xff\xd8\xff\xe1\x00\x10"])
def test_a_header_cut_short_in_a_segment_counts_its_markers(cut: bytes) -> None:
    """A length cut short, or one past the end, ends the count; it was negative (the bytes left,
    counted as stray ones, taken from a position past the end)."""
    assert header_steps(cut, 100) == 1


@pytest.mark.parametrize("run", [b"\xff", b"\xff\x00", b"\x00"])
def test_a_run_of_bytes_with_no_marker_is_counted_to_most(run: bytes) -> None:
    """Fill bytes (0xFF) with no code after them took re quadratic time (20,000 of them: 5 s) and were
    counted to the end of the data, as were stuffed pairs and stray bytes: the count stops past most."""
    assert header_steps(b"\xff\xd8" + run * 20_000, 10_000) == 10_001
