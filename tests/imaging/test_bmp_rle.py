from __future__ import annotations

import io
import struct
from datetime import timedelta
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import BmpImagePlugin, Image, ImageFile

from service.imaging.bmp_rle import BmpRleDecoder, TooManyCodes, rle_pixels
from tests.conftest import IMAGES
from tests.pictures import rle8_codes, rle_bmp

END_OF_LINE, END_OF_BITMAP = b"\x00\x00", b"\x00\x01"


def decoded_by(decoder: type[ImageFile.PyDecoder], data: bytes) -> bytes | None:
    """The pixels of the BMP `data` (palette indices, or greys for a grey palette) as `decoder` gives
    them to Pillow; None where Pillow refuses them (not enough image data)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(Image.DECODERS, "bmp_rle", decoder)
        image = Image.open(io.BytesIO(data))
        try:
            image.load()
        except ValueError:
            return None
    return image.tobytes()


def as_pillow_decodes(data: bytes) -> bytes | None:
    """Our decoder's pixels of `data`, checked to be Pillow's own decoder's."""
    ours = decoded_by(BmpRleDecoder, data)
    assert ours == decoded_by(BmpImagePlugin.BmpRleDecoder, data)
    return ours


def at_an_odd_offset(data: bytes) -> bytes:
    """The BMP with a byte more before its codes, which then begin at an odd offset in the file."""
    offset = struct.unpack_from("<I", data, 10)[0]
    return data[:10] + struct.pack("<I", offset + 1) + data[14:offset] + b"\xff" + data[offset:]


# (width, height, codes, RLE4): pictures of each code and of the edges Pillow's decoder has
CODES = {
    "runs to the row's end": (10, 3, (b"\x05\x07\x05\x09" + END_OF_LINE) * 3, False),
    "runs past the row's end, cut there": (10, 3, (b"\xff\x07\x03\x09" + END_OF_LINE) * 3, False),
    "rle4 runs of odd length, two pixels by turns": (11, 3, (b"\x05\x12\x06\x34" + END_OF_LINE) * 3, True),
    "rle4 runs past the row's end": (7, 2, (b"\x09\x56\x02\x11" + END_OF_LINE) * 2, True),
    "rows an end of line ends early": (10, 3, (b"\x03\x07" + END_OF_LINE) * 3, False),
    "deltas right and up": (
        10,
        4,
        b"\x02\x07\x00\x02\x03\x01\x02\x08" + END_OF_LINE + b"\x0a\x05" + END_OF_LINE + b"\x0a\x06",
        False,
    ),
    "a delta past the picture's end": (10, 2, b"\x03\x04\x00\x02\xff\xff", False),
    "absolute runs, odd and even, padded to 16 bits": (
        9,
        2,
        b"\x00\x03\x01\x02\x03\x00\x00\x04\x04\x05\x06\x07\x02\x09"
        + END_OF_LINE
        + b"\x00\x09"
        + bytes(range(9))
        + b"\x00",
        False,
    ),
    "an absolute run into the next row, and a run after it": (
        6,
        3,
        b"\x04\x01\x00\x05\x02\x03\x04\x05\x06\x00\x03\x09" + END_OF_LINE + b"\x06\x07",
        False,
    ),
    "rle4 absolute runs of odd length": (
        7,
        2,
        b"\x00\x05\x12\x34\x50\x00\x02\x66" + END_OF_LINE + b"\x00\x07\x12\x34\x56\x70",
        True,
    ),
    "an absolute run past the picture's end": (5, 1, b"\x00\x09" + bytes(range(9)) + b"\x00", False),
    "codes after the last pixel": (4, 1, b"\x04\x07\x00\x05\x01", False),
    "codes that end before the last pixel": (10, 3, b"\x0a\x07" + END_OF_LINE, False),
    "an end of bitmap before the last pixel": (10, 2, b"\x0a\x07" + END_OF_BITMAP + b"\x0a\x07", False),
    "an absolute run cut short": (10, 1, b"\x00\x05\x01\x02", False),
    "a delta cut short": (10, 1, b"\x05\x01\x00\x02\x01", False),
}
# Those whose codes end before the picture's last pixel: not enough image data, for Pillow too
NOT_ENOUGH = {
    "codes that end before the last pixel",
    "an end of bitmap before the last pixel",
    "an absolute run cut short",
    "a delta cut short",
}


@pytest.mark.parametrize("case", sorted(CODES))
@pytest.mark.parametrize("top_down", [False, True], ids=["bottom-up", "top-down"])
def test_the_pixels_are_pillows(case: str, top_down: bool) -> None:
    width, height, codes, rle4 = CODES[case]
    pixels = as_pillow_decodes(rle_bmp(width, height, codes, rle4, top_down))
    assert (pixels is None) == (case in NOT_ENOUGH)


def test_the_pixels_of_codes_at_an_odd_offset_are_pillows() -> None:
    """Absolute runs end at an even offset in the file: codes at an odd one pad a run of an even number
    of bytes (4: a byte of padding follows), and not one of an odd number (3)."""
    four = b"\x00\x04\x01\x02\x03\x04\x00\x04\x09"
    three = b"\x00\x03\x01\x02\x03\x00\x05\x07"  # from an even offset now: padded
    data = at_an_odd_offset(rle_bmp(8, 2, four + END_OF_LINE + three))
    assert as_pillow_decodes(data) == bytes([1, 2, 3, 7, 7, 7, 7, 7, 1, 2, 3, 4, 9, 9, 9, 9])


@st.composite
def rle_files(draw: st.DrawFn) -> bytes:
    """A small RLE BMP of codes of every kind, and of stray bytes that pair the codes after them a byte
    off."""
    run = st.tuples(st.integers(1, 255), st.integers(0, 255)).map(bytes)
    delta = st.tuples(st.integers(0, 12), st.integers(0, 3)).map(lambda skip: b"\x00\x02" + bytes(skip))
    absolute = st.binary(min_size=3, max_size=24).map(lambda b: bytes((0, len(b))) + b + bytes(len(b) % 2))
    code = st.one_of(
        run, delta, absolute, st.sampled_from([END_OF_LINE, END_OF_BITMAP]), st.binary(max_size=3)
    )
    codes = b"".join(draw(st.lists(code, max_size=30)))
    width, height = draw(st.integers(1, 20)), draw(st.integers(1, 6))
    data = rle_bmp(width, height, codes, rle4=draw(st.booleans()), top_down=draw(st.booleans()))
    return at_an_odd_offset(data) if draw(st.booleans()) else data


@settings(max_examples=500, deadline=timedelta(seconds=2), derandomize=True)
@given(data=rle_files())
def test_any_codes_give_pillows_pixels(data: bytes) -> None:
    as_pillow_decodes(data)


@cache
def grey_photo() -> np.ndarray:
    return np.asarray(Image.open(IMAGES / "grace_hopper.bmp").convert("L"))


def test_a_photo_encoded_as_rle8_gives_its_pixels() -> None:
    grey = grey_photo()
    data = rle_bmp(grey.shape[1], grey.shape[0], rle8_codes(grey))
    assert as_pillow_decodes(data) == grey.tobytes()


def test_the_codes_are_counted_up_to_the_most_allowed() -> None:
    """A code costs a step whether it writes pixels or not; what ends the codes before the picture's
    last pixel is no code past the most."""
    runs = b"\x0a\x07" * 10  # a row of 100 pixels in 10 runs
    assert rle_pixels(runs, 100, 1, rle4=False, most_codes=10) == bytes([7] * 100)
    with pytest.raises(TooManyCodes):
        rle_pixels(runs, 100, 1, rle4=False, most_codes=9)
    nothing = END_OF_LINE * 1_000  # each pads nothing: the picture is never filled
    assert rle_pixels(nothing, 10, 10, rle4=False, most_codes=1_000) == b""
    with pytest.raises(TooManyCodes):
        rle_pixels(nothing, 10, 10, rle4=False, most_codes=999)
