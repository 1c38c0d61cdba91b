from __future__ import annotations

import io
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from service.imaging.avif import without_exif
from tests.pictures import encoded


@cache
def with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "a camera"  # Make
    return encoded(Image.new("RGB", (16, 8), (200, 10, 10)), "AVIF", exif=exif)


def test_an_avifs_exif_item_is_renamed_and_nothing_else_changes() -> None:
    data = with_exif()
    assert "exif" in Image.open(io.BytesIO(data)).info
    renamed = without_exif(data)
    assert renamed is not None and len(renamed) == len(data)
    assert sum(a != b for a, b in zip(renamed, data, strict=True)) <= 4  # the item's type
    opened = Image.open(io.BytesIO(renamed))
    assert "exif" not in opened.info
    assert opened.convert("RGB").tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def test_a_file_without_exif_items_is_none() -> None:
    picture = Image.new("RGB", (16, 8))
    assert without_exif(encoded(picture, "AVIF")) is None
    assert without_exif(encoded(picture, "PNG")) is None
    assert without_exif(b"") is None


@settings(max_examples=300, derandomize=True)
@given(cut=st.integers(0, 2_000), flips=st.lists(st.tuples(st.integers(0, 2_000), st.integers(1, 255))))
def test_a_damaged_container_gives_bytes_of_its_length_or_none(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    """Box sizes that claim more than the file holds, or less than their own header, end the walk."""
    data = bytearray(with_exif()[:cut])
    for at, flip in flips:
        if at < len(data):
            data[at] ^= flip
    renamed = without_exif(bytes(data))
    assert renamed is None or len(renamed) == len(data)
