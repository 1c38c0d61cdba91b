from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from PIL import Image

from service.imaging.png_chunks import (
    SMALL_CHUNK_BYTES,
    exif_chunks,
    small_chunk_count,
    without_damaged_ancillary_chunks,
)
from tests.pictures import (
    encoded,
    exif_of_entries,
    png_chunk,
    with_bad_crc,
    with_image_data_in_chunks_of,
    with_png_chunks,
)

EMPTY_TEXT = png_chunk(b"tEXt", b"")


def plain() -> bytes:
    return encoded(Image.new("RGB", (8, 8), (10, 20, 30)), "PNG")


def test_each_chunk_counts_where_it_stands() -> None:
    """Pillow reads them all: before the image data, after it, and the image data's own."""
    data = plain()
    assert small_chunk_count(data, 100) == 3  # IHDR, IDAT, IEND
    assert small_chunk_count(with_png_chunks(data, EMPTY_TEXT * 5), 100) == 8
    assert small_chunk_count(with_png_chunks(data, png_chunk(b"prIv", b"") * 5, before_end=True), 100) == 8
    assert small_chunk_count(with_png_chunks(data, png_chunk(b"IDAT", b"") * 5, before_end=True), 100) == 8


def test_chunk_data_is_skipped_by_its_length() -> None:
    """Bytes that look like chunks inside a chunk's data are not counted."""
    looks_like_chunks = png_chunk(b"zTXt", EMPTY_TEXT * 50)
    assert small_chunk_count(with_png_chunks(plain(), looks_like_chunks), 100) == 4


def test_the_count_stops_past_most_or_at_the_end() -> None:
    data = plain()
    assert small_chunk_count(with_png_chunks(data, EMPTY_TEXT * 1_000), most=10) == 11
    assert small_chunk_count(data + EMPTY_TEXT * 10, 100) == 3  # nothing after IEND is read
    assert small_chunk_count(data[:-12], 100) == 2  # cut before IEND
    assert small_chunk_count(data[:8], 100) == 0


def test_chunks_of_a_kib_or_more_are_not_counted() -> None:
    """Pillow's cost is a chunk's, whatever its size: those of 1 KiB or more are bounded by the bytes."""
    data = plain()
    for size, counted in ((SMALL_CHUNK_BYTES - 1, 4), (SMALL_CHUNK_BYTES, 3), (8192, 3)):
        assert small_chunk_count(with_png_chunks(data, png_chunk(b"prIv", bytes(size))), 100) == counted
    many = with_png_chunks(data, png_chunk(b"IDAT", bytes(SMALL_CHUNK_BYTES)) * 1_000, before_end=True)
    assert small_chunk_count(many, most=10) == 3


def test_pictures_saved_by_libpng_hold_few_small_chunks(images: Path) -> None:
    """OpenCV writes PNGs with libpng, whose image data chunks are 8 KB (a 10 MB file: 1,280), the
    last one shorter, maybe small: with IHDR and IEND, three small ones at most."""
    ok, png = cv2.imencode(
        ".png", cv2.imread(str(images / "grace_hopper.bmp")), [cv2.IMWRITE_PNG_COMPRESSION, 0]
    )
    assert ok and len(png) > 100 * 8192
    assert small_chunk_count(png.tobytes(), 10_000) <= 3


def test_image_data_split_in_chunks_of_a_kib_holds_few_small_ones() -> None:
    picture = Image.new("RGB", (300, 300), (10, 20, 30))
    split = with_image_data_in_chunks_of(encoded(picture, "PNG", compress_level=0), SMALL_CHUNK_BYTES)
    assert split.count(b"IDAT") > 100 and small_chunk_count(split, 10_000) == 3


def test_an_apng_of_small_frames_holds_two_small_chunks_a_frame() -> None:
    frames = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(100)]
    apng = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert small_chunk_count(apng, 10_000) == 2 + 2 * 100 + 1  # IHDR, acTL; fcTL and IDAT or fdAT; IEND


def test_the_exif_chunks_pillow_reads_with_the_header_are_those_before_the_image_data() -> None:
    exif = exif_of_entries(3)
    data = encoded(Image.new("RGB", (8, 8)), "PNG", exif=exif)
    assert [bytes(chunk) for chunk in exif_chunks(data)] == [exif.removeprefix(b"Exif\x00\x00")]
    assert list(exif_chunks(with_png_chunks(plain(), png_chunk(b"eXIf", exif), before_end=True))) == []
    assert list(exif_chunks(data[:20])) == []


TEXT = png_chunk(b"tEXt", b"Comment\x00hello")


def test_an_intact_png_is_given_back_itself() -> None:
    data = with_png_chunks(plain(), TEXT)
    assert without_damaged_ancillary_chunks(data) is data


def test_an_ancillary_chunk_whose_crc_is_wrong_is_dropped() -> None:
    """As libpng and browsers read it; the intact chunks around it are kept."""
    gamma = png_chunk(b"gAMA", b"\x00\x01\x86\xa0")
    damaged = with_bad_crc(with_png_chunks(plain(), gamma + TEXT + gamma), b"tEXt")
    assert without_damaged_ancillary_chunks(damaged) == with_png_chunks(plain(), gamma * 2)


def test_a_chunk_after_the_image_data_is_left_whatever_its_crc() -> None:
    """Pillow ignores those CRCs: dropping one there could only take an APNG's frame away."""
    damaged = with_bad_crc(with_png_chunks(plain(), TEXT, before_end=True), b"tEXt")
    assert without_damaged_ancillary_chunks(damaged) is damaged


@pytest.mark.parametrize("kind", [b"IHDR", b"PLTE", b"IDAT", b"IEND"])
def test_a_critical_chunk_whose_crc_is_wrong_is_left_to_pillow(kind: bytes) -> None:
    damaged = with_bad_crc(encoded(Image.new("P", (8, 8), 3), "PNG"), kind)
    assert without_damaged_ancillary_chunks(damaged) is damaged
