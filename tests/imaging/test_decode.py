from __future__ import annotations

import io
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image, PngImagePlugin, TiffImagePlugin

from service.errors import CorruptImage, ImageTooLarge, MissingImage, UnsupportedMediaType
from service.imaging import bmp_rle, gif_header, tiff_header
from service.imaging.avif import MOST_EXIF_ITEMS
from service.imaging.decode import (
    MAX_GIF_HEADER_STEPS,
    MAX_JPEG_HEADER_STEPS,
    MAX_JPEG_SCANS,
    MAX_SMALL_PNG_CHUNKS,
    MAX_TIFF_IFD_ENTRIES,
    decode_image,
)
from service.imaging.jpeg_header import header_steps
from service.imaging.png_chunks import small_chunk_count
from tests.allocations import peak_allocation
from tests.pictures import (
    avif_exif_item,
    encoded,
    exif_of_entries,
    gif_with_frame_at,
    grey_png,
    png_chunk,
    rgb16_png,
    rle_bmp,
    tiff_with_private_tags,
    tiled_tiff,
    with_bad_crc,
    with_gif_blocks,
    with_image_data_in_chunks_of,
    with_major_brand,
    with_png_chunks,
    with_repeated_scan,
)

LIMIT = 50_000_000


def asymmetric(width: int = 40, height: int = 20) -> Image.Image:
    """An RGB picture whose every orientation looks different: a red top-left corner block."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2, : width // 4] = (255, 0, 0)
    pixels[height // 2 :, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels, "RGB")


def test_rgb_png_round_trips() -> None:
    image = asymmetric()
    decoded = decode_image(encoded(image, "PNG"), LIMIT)
    assert (decoded.width, decoded.height, decoded.format) == (40, 20, "PNG")
    assert np.array_equal(decoded.pixels, np.asarray(image))


# Each EXIF orientation and the transform that makes the stored pixels upright.
ORIENTATIONS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# Lossless formats whose EXIF orientation browsers apply; Pillow's TIFF reader stands the picture up
# itself, the others not.
LOSSLESS_WITH_EXIF = {
    "PNG": {},
    "TIFF": {},
    "TIFF-LZW": {"compression": "tiff_lzw"},
}


@pytest.mark.parametrize("fmt", sorted(LOSSLESS_WITH_EXIF))
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    """Once, whichever reader does it (a TIFF was turned twice: stored as it was, or turned back)."""
    upright = asymmetric()
    fix = ORIENTATIONS[orientation]
    # stored = the inverse of the fix applied to the upright picture
    stored = upright if fix is None else upright.transpose(_inverse(fix))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encoded(stored, fmt.split("-")[0], exif=exif, **LOSSLESS_WITH_EXIF[fmt]), LIMIT)
    assert (decoded.width, decoded.height) == upright.size
    assert np.array_equal(decoded.pixels, np.asarray(upright))


@pytest.mark.parametrize("lossless", [True, False])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_a_webps_exif_orientation_is_not_applied(orientation: int, lossless: bool) -> None:
    """As browsers show it (its EXIF chunk comes after the image data; the page's frame, see
    tests/browser/test_page.py): the stored pixels, at their stored size."""
    stored = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(stored, "WEBP", exif=exif, lossless=lossless, quality=100)
    assert data.index(b"EXIF") > data.index(b"VP8")
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == stored.size
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(decoded.pixels, reference)


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied_to_jpegs_decoded_by_libjpeg_turbo(orientation: int) -> None:
    upright = asymmetric(64, 32)  # blocks on 8-pixel boundaries: JPEG keeps them nearly exact
    fix = ORIENTATIONS[orientation]
    stored = upright if fix is None else upright.transpose(_inverse(fix))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encoded(stored, "JPEG", exif=exif, quality=95), LIMIT)
    assert (decoded.width, decoded.height, decoded.format) == (64, 32, "JPEG")
    assert decoded.pixels.flags.c_contiguous
    assert np.abs(decoded.pixels.astype(int) - np.asarray(upright)).mean() < 8  # chroma blurs the edges
    # the red block is top-left once upright, whatever the stored orientation
    assert decoded.pixels[4, 4].tolist()[0] > 200 and decoded.pixels[28, 60].tolist()[2] > 200


@pytest.mark.parametrize("damage", [b"\x01\x02\x03 not a TIFF header", b"II*\x00"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_that_cannot_be_read_leaves_the_picture_as_stored(fmt: str, damage: bytes) -> None:
    """A browser shows the pixels and ignores such EXIF; Pillow's JPEG reader drops it on opening, and a
    PNG with the same bytes in its eXIf chunk was refused as corrupt (422)."""
    stored = asymmetric()
    decoded = decode_image(encoded(stored, fmt, exif=b"Exif\x00\x00" + damage), LIMIT)
    assert (decoded.width, decoded.height) == stored.size
    assert np.array_equal(
        decoded.pixels, np.asarray(Image.open(io.BytesIO(encoded(stored, fmt))).convert("RGB"))
    )


# The TIFF header of a big-endian EXIF block (Pillow writes EXIF so) after its "Exif\0\0" prefix, and
# damage to it: libavif refuses an EXIF item that holds no TIFF header; with a wrong prefix libavif
# finds the header and Pillow's parser refuses the block.
AVIF_EXIF = b"Exif\x00\x00MM\x00*"
AVIF_EXIF_DAMAGE = {"libavif": b"Exif\x00\x00\x01\x02\x03\x04", "Pillow": b"Exig\x00\x00MM\x00*"}
# An AVIF's ftyp box names avif as its major brand or a compatible one: a major brand of mif1 or msf1
# (HEIF's, of a picture, of a sequence), or another, with avif among the others is as legal. Pillow's
# Image.open asks its AVIF reader only of the first three.
AVIF_MAJOR_BRANDS = [b"avif", b"mif1", b"msf1", b"miaf", b"MA1B"]


@pytest.mark.parametrize("major_brand", AVIF_MAJOR_BRANDS)
@pytest.mark.parametrize("refused_by", sorted(AVIF_EXIF_DAMAGE))
@pytest.mark.parametrize("orientation", [1, 6])
def test_an_avifs_exif_that_cannot_be_read_is_ignored(
    refused_by: str, orientation: int, major_brand: bytes
) -> None:
    """As a browser ignores it, and decode_image a PNG's or JPEG's: the AVIF was refused as corrupt.
    Pillow writes an orientation as the container's rotation and mirror (irot, imir), which browsers
    apply whatever the EXIF; they still turn the picture. One whose major brand is HEIF's (avif among
    its compatible ones) was not known for an AVIF, so not opened without its EXIF: 415."""
    upright = asymmetric()
    fix = ORIENTATIONS[orientation]
    stored = upright if fix is None else upright.transpose(_inverse(fix))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "a camera"  # Make: the EXIF block stays when the orientation goes to irot
    data = with_major_brand(encoded(stored, "AVIF", exif=exif, quality=100), major_brand)
    assert data.count(AVIF_EXIF) == 1
    decoded = decode_image(data.replace(AVIF_EXIF, AVIF_EXIF_DAMAGE[refused_by]), LIMIT)
    assert (decoded.width, decoded.height) == upright.size
    assert np.array_equal(decoded.pixels, decode_image(data, LIMIT).pixels)


XMP_TURNED = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def _png_text(key: str, text: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(key, text)
    return info


def _raw_exif_profile(exif: Image.Exif) -> str:
    """EXIF as ImageMagick writes it into a PNG text chunk: a name, the byte count, then hex."""
    block = exif.tobytes()
    return f"\nexif\n{len(block)}\n{block.hex()}"


def test_a_png_orientation_after_its_pixels_is_not_applied() -> None:
    """An eXIf chunk after IDAT: chromium shows the PNG as stored (one before IDAT it applies, as the
    service does); Pillow's getexif() loads the pixels to find it, and the picture was turned."""
    stored = asymmetric()
    turned = Image.Exif()
    turned[0x0112] = 6
    plain = encoded(stored, "PNG")
    end = plain.index(b"IEND") - 4  # the IEND chunk's length field
    data = plain[:end] + png_chunk(b"eXIf", turned.tobytes().removeprefix(b"Exif\x00\x00")) + plain[end:]
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == stored.size
    assert np.array_equal(decoded.pixels, np.asarray(stored))


@pytest.mark.parametrize("where", ["JPEG XMP", "JPEG XMP, EXIF without one", "PNG XMP", "PNG raw profile"])
def test_an_orientation_outside_the_exif_block_is_not_applied(where: str) -> None:
    """Chromium applies the EXIF block's tag only (checked with Debian's chromium: an <img> and
    createImageBitmap keep these pictures as stored); Pillow's getexif() also takes an XMP
    tiff:Orientation or ImageMagick's "Raw profile type exif" PNG text, and turned them."""
    stored = asymmetric()
    turned = Image.Exif()
    turned[0x0112] = 6
    no_orientation = Image.Exif()
    no_orientation[0x010F] = "a camera"  # Make
    data = {
        "JPEG XMP": lambda: encoded(stored, "JPEG", xmp=XMP_TURNED, quality=95),
        "JPEG XMP, EXIF without one": lambda: encoded(
            stored, "JPEG", xmp=XMP_TURNED, exif=no_orientation, quality=95
        ),
        "PNG XMP": lambda: encoded(
            stored, "PNG", pnginfo=_png_text("XML:com.adobe.xmp", XMP_TURNED.decode())
        ),
        "PNG raw profile": lambda: encoded(
            stored, "PNG", pnginfo=_png_text("Raw profile type exif", _raw_exif_profile(turned))
        ),
    }[where]()
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == stored.size


@pytest.mark.parametrize("resolution", [{}, {"dpi": (300, 300)}])
def test_a_jpegs_exif_block_is_parsed_once(
    resolution: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow's JPEG reader parses the EXIF block on opening when the JFIF header gives no resolution
    (`dpi`); the orientation was read from a second parse of the same block, 15-100 us a request. The
    real parser runs, counted."""
    parses: list[TiffImagePlugin.ImageFileDirectory_v2] = []
    parse = TiffImagePlugin.ImageFileDirectory_v2.load

    def counted(directory: TiffImagePlugin.ImageFileDirectory_v2, fp: io.BytesIO) -> None:
        parses.append(directory)
        parse(directory, fp)

    turned = Image.Exif()
    turned[0x0112] = 6
    data = encoded(asymmetric(64, 32), "JPEG", exif=turned, **resolution)
    monkeypatch.setattr(TiffImagePlugin.ImageFileDirectory_v2, "load", counted)
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == (32, 64)  # turned
    assert len(parses) == 1


def test_a_damaged_jpeg_that_pillow_shows_still_decodes() -> None:
    """libjpeg-turbo in strict mode refuses entropy-coded data with stray bytes; libjpeg (Pillow, a
    browser) only warns and shows the picture. The service keeps Pillow's verdict."""
    photo = Image.fromarray(np.random.default_rng(4).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    clean = encoded(photo, "JPEG")
    scan = clean.find(b"\xff\xda") + 20
    rng = np.random.default_rng(1)
    for _ in range(50):  # three random bytes in the scan; most such files strict decoding refuses
        data = bytearray(clean)
        for position in rng.integers(scan, len(clean) - 10, 3):
            data[position] = int(rng.integers(0, 256))
        damaged = bytes(data)
        try:
            simplejpeg.decode_jpeg(damaged, colorspace="RGB")
        except ValueError:
            break
    else:
        pytest.fail("no damaged sample that strict libjpeg-turbo refuses")
    Image.open(io.BytesIO(damaged)).load()  # Pillow shows it
    decoded = decode_image(damaged, LIMIT, min_size=lambda w, h: (w // 2, h // 2))
    assert decoded.pixels.shape == (120, 160, 3)  # at the DCT scale asked for


def test_jpeg_pixels_are_those_pillow_decodes() -> None:
    """simplejpeg and Pillow both run libjpeg-turbo with the same settings (islow DCT, fancy upsampling)."""
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    data = encoded(photo, "JPEG", quality=80)
    assert np.array_equal(decode_image(data, LIMIT).pixels, np.asarray(Image.open(io.BytesIO(data))))


def _inverse(t: Image.Transpose) -> Image.Transpose:
    return {
        Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
        Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
    }.get(t, t)


def test_grey_palette_and_alpha_modes_become_rgb() -> None:
    grey = Image.new("L", (8, 8), 77)
    assert decode_image(encoded(grey, "PNG"), LIMIT).pixels[0, 0].tolist() == [77, 77, 77]
    grey_alpha = Image.new("LA", (8, 8), (200, 0))
    # transparent pixels read as black, as a browser canvas reads them
    assert decode_image(encoded(grey_alpha, "PNG"), LIMIT).pixels[0, 0].tolist() == [0, 0, 0]
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    assert decode_image(encoded(rgba, "PNG"), LIMIT).pixels[0, 0].tolist() == [10, 20, 30]


def test_palette_png_with_transparency() -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    data = encoded(palette, "PNG", transparency=0)
    pixels = decode_image(data, LIMIT).pixels
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[1, 1].tolist() == [255, 128, 0]


@pytest.mark.parametrize(
    ("mode", "colour", "key"),
    [("RGB", (255, 128, 0), (10, 20, 30)), ("L", 200, 7), ("1", 0, 1)],
)
def test_a_png_transparent_colour_reads_as_black(
    mode: str, colour: int | tuple[int, int, int], key: int | tuple[int, int, int]
) -> None:
    """A tRNS chunk on a greyscale or RGB PNG names one transparent colour; a browser canvas reads those
    pixels as (0, 0, 0, 0), which the page draws over black (web/src/preprocess.mjs)."""
    picture = Image.new(mode, (4, 4), colour)
    picture.putpixel((0, 0), key)
    pixels = decode_image(encoded(picture, "PNG", transparency=key), LIMIT).pixels
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[1, 1].tolist() == np.asarray(picture.convert("RGB"))[1, 1].tolist()


@pytest.mark.parametrize("bit_depth", [2, 4, 16])
def test_a_greyscale_pngs_transparent_grey_reads_as_black_at_every_bit_depth(bit_depth: int) -> None:
    """The tRNS grey is a stored value (0..3 at 2 bits): Pillow unpacks the pixels to 0..255 but kept the
    key as stored, and compared a 16-bit key with nothing, so those pixels showed grey, not transparent."""
    top = (1 << bit_depth) - 1
    key = (top + 1) // 2  # a mid grey: 170 at 2 bits, 128 at 16
    pixels = decode_image(grey_png(np.array([[key, top, 0, key]]), bit_depth, transparent=key), LIMIT).pixels
    assert pixels[0, :, 0].tolist() == [0, 255, 0, 0]


@pytest.mark.parametrize("key", [(0x1234, 0x5678, 0x9ABC), (0x12, 0x56, 0x9A)])
def test_a_sixteen_bit_rgb_pngs_transparent_colour_reads_as_black(key: tuple[int, int, int]) -> None:
    """Compared at 16 bits, as libpng does: Pillow keeps each sample's high byte, and the key matched none
    of those, or under 256 (a dark colour) all that share its high bytes."""
    values = np.array(
        [
            [key, (0x1234, 0x5678, 0x9ABC), (0x12, 0x56, 0x9A)],
            [(0x1299, 0x5678, 0x9ABC), (0x1234, 0x5678, 0x9A00), (0xFFFF, 0x8040, 0)],
        ]
    )
    pixels = decode_image(rgb16_png(values, transparent=key), LIMIT).pixels
    expected = np.where((values == key).all(axis=2)[:, :, None], 0, values >> 8)
    assert np.array_equal(pixels, expected)


def test_sixteen_bit_png_keeps_the_top_eight_bits() -> None:
    wide = np.full((6, 6), 0x8040, dtype=np.uint16)
    data = encoded(Image.frombytes("I;16", (6, 6), wide.tobytes()), "PNG")
    assert decode_image(data, LIMIT).pixels[0, 0].tolist() == [0x80, 0x80, 0x80]


def test_thirty_two_bit_greyscale_is_clipped_to_sixteen_bits_not_wrapped() -> None:
    """A mode I TIFF (32-bit signed, e.g. from a microscope): brighter stays brighter."""
    values = np.array([[0, 0x8040, 0xFFFF, 70_000, 1_000_000, -5]], dtype=np.int32)
    data = encoded(Image.fromarray(values, "I"), "TIFF")
    assert decode_image(data, LIMIT).pixels[0, :, 0].tolist() == [0, 0x80, 255, 255, 255, 0]


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    pixels = decode_image(encoded(cmyk, "JPEG", quality=95), LIMIT).pixels
    r, g, b = pixels[8, 8].tolist()
    assert r > 200 and g < 60 and b < 60


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    pixels = decode_image(gif, LIMIT).pixels
    assert pixels[4, 4, 0] > 200 and pixels[4, 4, 1] < 50


@pytest.mark.parametrize("transparent", [False, True])
def test_a_gif_screen_outside_its_first_frame_reads_as_black(transparent: bool) -> None:
    """A browser leaves it transparent (chromium's canvas reads (0, 0, 0, 0) there), which the page draws
    over black; Pillow filled it with palette colour 0 (here the frame's own red) when the frame had no
    transparent colour."""
    frame = Image.new("P", (4, 4), 0)
    frame.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    frame.putpixel((3, 3), 1)  # a blue corner: the frame is where it was put
    if transparent:
        frame.info["transparency"] = 1
    pixels = decode_image(gif_with_frame_at(frame, screen=(8, 6), at=(2, 1)), LIMIT).pixels
    expected = np.zeros((6, 8, 3), dtype=np.uint8)  # black outside the frame
    expected[1:5, 2:6] = (255, 0, 0)
    expected[4, 5] = (0, 0, 0) if transparent else (0, 0, 255)
    assert np.array_equal(pixels, expected)


@pytest.mark.parametrize(("default_image", "first"), [(False, (255, 0, 0)), (True, (0, 255, 0))])
def test_an_animated_png_gives_its_first_animation_frame(default_image: bool, first: tuple[int, ...]) -> None:
    """An APNG's default image outside its animation is the fallback for viewers without APNG; a browser
    (and so the page) shows the animation's first frame."""
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    apng = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], default_image=default_image)
    assert decode_image(apng, LIMIT).pixels[4, 4].tolist() == list(first)


def test_large_jpeg_is_decoded_at_reduced_dct_scale_but_never_below_the_minimum(images: Path) -> None:
    data = (images / "cat_1080p.jpg").read_bytes()
    full = decode_image(data, LIMIT)
    reduced = decode_image(data, LIMIT, min_size=lambda w, h: (w // 5, h // 5))
    assert (reduced.width, reduced.height) == (full.width, full.height)  # reports the original size
    assert reduced.decoded_width < full.decoded_width
    assert reduced.decoded_width >= full.width // 5 and reduced.decoded_height >= full.height // 5
    assert reduced.scale < 1 and full.scale == 1


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_dct_scaled_decode_gives_its_scale_and_the_share_the_picture_fills(orientation: int) -> None:
    """209 rows at 1/8 are 26.125 rows, which libjpeg rounds up to 27: the picture fills 26.125 / 27 of
    them (upright, the stored rows are the columns with EXIF orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = encoded(Image.new("RGB", (1600, 209), (90, 90, 90)), "JPEG", exif=exif)
    reduced = decode_image(stored, LIMIT, min_size=lambda w, h: (w // 8, h // 8))
    assert reduced.scale == 1 / 8
    fills = (1.0, 26.125 / 27)
    assert reduced.coverage == pytest.approx(fills if orientation == 1 else fills[::-1])
    whole = decode_image(encoded(Image.new("RGB", (1, 1)), "PNG"), LIMIT, min_size=lambda w, h: (1, 1))
    assert (whole.scale, whole.coverage) == (1.0, (1.0, 1.0))


def test_a_jpeg_with_an_mp_index_decodes_as_the_jpeg_it_begins_with(images: Path) -> None:
    """Phones write MPO JPEGs (an Ultra HDR gain map, a depth map after the picture): Pillow names them
    MPO. The first image is the picture, decoded as any JPEG, at the reduced DCT scale too."""
    photo = Image.open(images / "cat_1080p.jpg")
    plain = encoded(photo, "JPEG", quality=90)
    mpo = encoded(photo, "MPO", quality=90, save_all=True, append_images=[photo.reduce(4)])
    reduce_by_4 = {"min_size": lambda w, h: (w // 4, h // 4)}
    expected = decode_image(plain, LIMIT, **reduce_by_4)
    decoded = decode_image(mpo, LIMIT, **reduce_by_4)
    assert decoded.format == "MPO"
    assert (decoded.width, decoded.height) == (expected.width, expected.height) == photo.size
    assert decoded.pixels.shape == expected.pixels.shape == (270, 480, 3)
    assert np.array_equal(decoded.pixels, expected.pixels)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", MissingImage),
        (b"this is text, not a picture", UnsupportedMediaType),
        # begins as a BMP does, with text where a BMP's header size stands: no damaged BMP
        (b"BMW owners' manual, chapter 1: starting the engine", UnsupportedMediaType),
        (b"BMP", CorruptImage),  # a BMP cut before its header's size: damaged
    ],
    ids=["empty", "text", "text that begins BM", "BMP cut short"],
)
def test_not_an_image(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_image(data, LIMIT)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_corrupt(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(noise), fmt)
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2], LIMIT)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encoded(Image.new("1", (12_000, 12_000)), "PNG")  # ~20 KB file, 144 megapixels
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, max_pixels=50_000_000)
    # its pixel data cut off: decoding would find that (CorruptImage); only the header was read
    with pytest.raises(ImageTooLarge):
        decode_image(bomb[: len(bomb) // 2], max_pixels=50_000_000)


def test_a_tiff_whose_tiles_hold_more_pixels_than_the_limit_is_refused_before_decoding() -> None:
    """libtiff decodes a tile whole, whatever the picture's size: tiles under the limit decode, bigger ones
    are refused from the header, as a picture of that many pixels."""
    tiff = tiled_tiff(16, 16, tile=1024, colour=(10, 200, 30))
    decoded = decode_image(tiff, max_pixels=1024 * 1024)
    assert decoded.pixels.shape == (16, 16, 3) and (decoded.pixels == (10, 200, 30)).all()
    with pytest.raises(ImageTooLarge, match="TIFF tiles of 1024x1024 = 1048576 pixels"):
        decode_image(tiff, max_pixels=1024 * 1024 - 1)


def test_extreme_aspect_ratios_decode() -> None:
    assert decode_image(encoded(Image.new("RGB", (1, 1)), "PNG"), LIMIT).pixels.shape == (1, 1, 3)
    assert decode_image(encoded(Image.new("RGB", (10_000, 10)), "PNG"), LIMIT).pixels.shape == (10, 10_000, 3)


def test_a_pixel_limit_above_pillows_own_holds() -> None:
    """The service's limit, not Pillow's built-in 89 M pixels, decides (MVA_MAX_PIXELS may be higher)."""
    big = encoded(Image.new("1", (10_000, 10_000)), "PNG")  # 100 M pixels
    assert decode_image(big, max_pixels=120_000_000).width == 10_000
    with pytest.raises(ImageTooLarge, match="the limit is 99999999"):
        decode_image(big, max_pixels=99_999_999)


def test_a_progressive_jpeg_with_too_many_scans_is_refused_before_decoding() -> None:
    """Each scan is a pass over every coefficient: thousands of them in a small file would hold a core
    for seconds. Encoders write about 10."""
    progressive = encoded(asymmetric(64, 64), "JPEG", progressive=True)
    assert decode_image(progressive, LIMIT).pixels.shape == (64, 64, 3)
    assert decode_image(with_repeated_scan(progressive, 10), LIMIT).pixels.shape == (64, 64, 3)
    with pytest.raises(CorruptImage, match=f"at most {MAX_JPEG_SCANS} are read"):
        decode_image(with_repeated_scan(progressive, MAX_JPEG_SCANS), LIMIT)


def test_scans_are_counted_without_holding_them_all() -> None:
    """10 MiB of scan headers after a progressive JPEG's first scan: every match was kept in a list
    (~100 MB) only to be counted; counting stops one past the limit."""
    progressive = encoded(asymmetric(64, 64), "JPEG", progressive=True)
    end = progressive.rindex(b"\xff\xd9")
    flood = progressive[:end] + b"\xff\xda\x00\x0c\x03" * (10 * 2**20 // 5) + progressive[end:]
    with peak_allocation() as peak, pytest.raises(CorruptImage, match=f"more than {MAX_JPEG_SCANS} scans"):
        decode_image(flood, LIMIT)
    assert peak.bytes < len(flood) // 10


@pytest.mark.parametrize("filler", [b"\xff\xfe\x00\x02", b"\xff\xe1\x00\x02", b"\xff\xd0", b"\xff", b"\x00"])
def test_a_jpeg_header_of_too_many_steps_is_refused_before_pillow_reads_it(filler: bytes) -> None:
    """Pillow walks a JPEG's header in Python, a marker or a stray byte at a time: 10 MB of empty comment
    or APP1 segments, restart markers, fill or stray bytes held a core 5-10 s (and 331 MB). As many as
    the limit still decode, as libjpeg and browsers do."""
    data = encoded(asymmetric(64, 64), "JPEG")
    steps = header_steps(data, MAX_JPEG_HEADER_STEPS)
    after_app0 = 4 + int.from_bytes(data[4:6], "big")
    limit = data[:after_app0] + filler * (MAX_JPEG_HEADER_STEPS - steps)
    assert decode_image(limit + data[after_app0:], LIMIT).pixels.shape == (64, 64, 3)
    with pytest.raises(CorruptImage, match=f"more than {MAX_JPEG_HEADER_STEPS} markers and stray bytes"):
        decode_image(limit + filler + data[after_app0:], LIMIT)


@pytest.mark.parametrize(
    ("kind", "before_end"), [(b"tEXt", False), (b"prIv", False), (b"prIv", True), (b"IDAT", True)]
)
def test_a_png_of_too_many_chunks_is_refused_before_pillow_reads_it(kind: bytes, before_end: bool) -> None:
    """Pillow reads a PNG's chunks in Python, one at a time: 10 MB of empty text or private chunks, before
    the image data or after it, or of empty image data chunks, held a core ~4.5 s. As many as the limit
    still decode."""
    data = encoded(asymmetric(16, 16), "PNG")
    filler = MAX_SMALL_PNG_CHUNKS - small_chunk_count(data, MAX_SMALL_PNG_CHUNKS)
    limit = with_png_chunks(data, png_chunk(kind, b"") * filler, before_end=before_end)
    assert np.array_equal(decode_image(limit, LIMIT).pixels, np.asarray(asymmetric(16, 16)))
    with pytest.raises(CorruptImage, match=f"the PNG has more than {MAX_SMALL_PNG_CHUNKS} chunks of under"):
        decode_image(with_png_chunks(limit, png_chunk(kind, b""), before_end=before_end), LIMIT)


def test_a_png_of_image_data_in_more_than_the_limits_kib_chunks_decodes() -> None:
    """Some encoders split the image data in 1 KiB chunks: a 10 MiB upload of them has more chunks than
    the limit, and was refused; Pillow reads each of them about as fast as an empty one, and the bytes
    bound how many there are. Stored (compression level 0), so that 10 MiB is a picture of ~3.4 M pixels."""
    stripes = np.zeros((1_710, 2_000, 3), np.uint8)
    stripes[:, :, 0] = np.arange(2_000, dtype=np.uint8)  # column x's red: x mod 256
    stripes[:, :, 1] = np.arange(1_710, dtype=np.uint8)[:, None]  # row y's green
    png = encoded(Image.fromarray(stripes), "PNG", compress_level=0)
    split = with_image_data_in_chunks_of(png, 1024)
    assert split.count(b"IDAT") > MAX_SMALL_PNG_CHUNKS and len(split) < 10 << 20
    assert np.array_equal(decode_image(split, LIMIT).pixels, stripes)


def test_an_apng_of_a_thousand_frames_decodes() -> None:
    """Two chunks a frame, the limit's fifth."""
    frames = [Image.new("RGB", (8, 8), (i % 256, i // 256, 0)) for i in range(1_000)]
    apng = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert decode_image(apng, LIMIT).pixels[4, 4].tolist() == [0, 0, 0]


# Bytes that take Pillow's GIF reader exactly `steps` steps before the first image.
GIF_FLOODS = {
    "empty comments": lambda steps: b"!\xfe\x00" * (steps // 2) + b"\x00" * (steps % 2),
    "1-byte sub-blocks": lambda steps: b"!\xfe" + b"\x01x" * (steps - 2) + b"\x00",
    "graphic controls": lambda steps: b"!\xf9\x04\x00\x00\x00\x00\x00" * (steps // 3) + b"\x00" * (steps % 3),
    "stray bytes": lambda steps: b"\x00" * steps,
}


@pytest.mark.parametrize("flood", sorted(GIF_FLOODS))
def test_a_gif_header_of_too_many_steps_is_refused_before_pillow_reads_it(flood: str) -> None:
    """Pillow walks a GIF's blocks before its first image in Python, a block, sub-block or stray byte at a
    time: 10 MB of empty comments held a core ~2 s. As many as the limit still decode."""
    data = encoded(asymmetric(16, 16), "GIF")
    steps = MAX_GIF_HEADER_STEPS - gif_header.header_steps(data, MAX_GIF_HEADER_STEPS)
    limit = with_gif_blocks(data, GIF_FLOODS[flood](steps))
    assert gif_header.header_steps(limit, MAX_GIF_HEADER_STEPS) == MAX_GIF_HEADER_STEPS
    assert np.array_equal(decode_image(limit, LIMIT).pixels, np.asarray(asymmetric(16, 16)))
    with pytest.raises(CorruptImage, match=f"more than {MAX_GIF_HEADER_STEPS} blocks, sub-blocks and stray"):
        decode_image(with_gif_blocks(data, GIF_FLOODS[flood](steps + 1)), LIMIT)


def test_a_tiff_of_too_many_ifd_entries_is_refused_before_pillow_reads_it() -> None:
    """Pillow parses a TIFF's IFD entries in Python, its first IFD's three times: 65,000 entries there and
    as many in the EXIF IFD, 1.5 MB, held a core 2 s. As many as the limit still decode."""
    picture = asymmetric(16, 16)
    own = tiff_header.ifd_entries(encoded(picture, "TIFF"), MAX_TIFF_IFD_ENTRIES) // 3
    most = MAX_TIFF_IFD_ENTRIES // 3 - own  # private tags within the limit
    limit = tiff_with_private_tags(picture, most)
    assert np.array_equal(decode_image(limit, LIMIT).pixels, np.asarray(picture))
    with pytest.raises(CorruptImage, match=f"the TIFF has more than {MAX_TIFF_IFD_ENTRIES} IFD entries"):
        decode_image(tiff_with_private_tags(picture, most + 1), LIMIT)


# How many times Pillow and decode.py parse the first IFD of a format's EXIF: a PNG's once (here), an
# AVIF's twice (Pillow's reader on opening, then here).
EXIF_FIRST_IFD_READS = {"PNG": 1, "AVIF": 2}


@pytest.mark.parametrize("fmt", sorted(EXIF_FIRST_IFD_READS))
def test_exif_of_too_many_ifd_entries_is_refused_before_pillow_reads_it(fmt: str) -> None:
    """A PNG's eXIf chunk or an AVIF's EXIF item is as large as the upload: 65,535 entries held a core
    0.25-0.4 s, an AVIF's twice as long. As many as the limit still decode, a PNG's orientation applied
    (Pillow's AVIF writer makes an orientation a transform box; its pixels are lossy: Pillow's)."""
    upright = asymmetric(16, 8)
    orientation = 6 if fmt == "PNG" else None
    stored = upright.transpose(_inverse(ORIENTATIONS[6])) if orientation else upright
    most = MAX_TIFF_IFD_ENTRIES // EXIF_FIRST_IFD_READS[fmt]
    limit = encoded(stored, fmt, exif=exif_of_entries(most, orientation))
    decoded = decode_image(limit, LIMIT)
    assert (decoded.width, decoded.height) == upright.size
    expected = upright if orientation else Image.open(io.BytesIO(limit)).convert("RGB")
    assert np.array_equal(decoded.pixels, np.asarray(expected))
    flood = encoded(stored, fmt, exif=exif_of_entries(most + 1, orientation))
    with pytest.raises(
        CorruptImage, match=f"the {fmt}'s EXIF has more than {MAX_TIFF_IFD_ENTRIES} IFD entries"
    ):
        decode_image(flood, LIMIT)


def test_an_avifs_exif_item_of_extents_that_repeat_the_file_is_read_up_to_its_size() -> None:
    """Extents of 0-byte fields are each the whole file (offset 0, to the end): 10,000 of them in a
    100 KB upload made an EXIF item of 1 GB to count, 2.9 GB held, before any other check. libavif
    refuses an item larger than the file: so does the upload here, after reading no more than that."""
    data = avif_exif_item([(0, 0)] * 2_000, field_size=0, after=bytes(100_000))
    with peak_allocation() as peak, pytest.raises(CorruptImage, match="the AVIF header could not be read"):
        decode_image(data, LIMIT)
    assert peak.bytes < 4 * len(data)  # the upload as Pillow reads it, the item's bytes; 2,000 files before


def test_an_avif_of_more_exif_items_than_a_writer_makes_is_refused_before_they_are_read() -> None:
    """Each item is read up to the upload's size: 1,000 items of extents that repeat the file were all
    held at once (1,000 times a 20 KB upload; ~100 GB for 10 MB padded). A writer makes one."""
    data = avif_exif_item([(0, 0)], field_size=0, after=bytes(20_000), items=1_000)
    refused = pytest.raises(CorruptImage, match=f"more than {MOST_EXIF_ITEMS} EXIF items")
    with peak_allocation() as peak, refused:
        decode_image(data, LIMIT)
    assert peak.bytes < 2 * len(data)


def test_a_damaged_exif_chunk_a_browser_drops_is_not_counted() -> None:
    """An ancillary chunk with a wrong CRC is dropped before Pillow reads the file, as browsers do: an
    eXIf chunk of more entries than the bound, damaged so, does not get the picture refused."""
    flood = exif_of_entries(MAX_TIFF_IFD_ENTRIES + 1)
    data = with_bad_crc(encoded(Image.new("RGB", (8, 8)), "PNG", exif=flood), b"eXIf")
    assert decode_image(data, LIMIT).pixels.shape == (8, 8, 3)


def test_a_cameras_exif_in_a_png_still_turns_the_photo(images: Path) -> None:
    """face.jpg's EXIF, a Konica Minolta's (its IFDs' few dozen entries, 39 KB with the maker's data), its
    orientation set to 6, is far within the bound."""
    photo = Image.open(images / "face.jpg")
    exif = photo.getexif()
    exif[0x0112] = 6
    upright = photo.convert("RGB")
    decoded = decode_image(encoded(upright.transpose(_inverse(ORIENTATIONS[6])), "PNG", exif=exif), LIMIT)
    assert np.array_equal(decoded.pixels, np.asarray(upright))


# Pillow warns before it fails on the one cut short; the server logs that as a line (tests/test_logs.py)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_a_bigtiff_is_a_tiff() -> None:
    """Pillow reads BigTIFF too: its header is walked as a TIFF's, and one cut short is damaged, not some
    other format."""
    data = encoded(asymmetric(), "TIFF", big_tiff=True)
    assert data[:4] == b"II+\x00"
    assert np.array_equal(decode_image(data, LIMIT).pixels, np.asarray(asymmetric()))
    with pytest.raises(CorruptImage, match="TIFF"):
        decode_image(data[:20], LIMIT)


def test_an_rle8_bmp_decodes() -> None:
    row = b"\x14\x0a\x14\x64\x14\xc8" + b"\x00\x00"  # 20 pixels each of greys 10, 100, 200; end of line
    decoded = decode_image(rle_bmp(60, 30, row * 30), LIMIT)
    assert decoded.pixels.shape == (30, 60, 3)
    assert (decoded.pixels == np.repeat([10, 100, 200], 20)[None, :, None]).all()


def rle4_rows(width: int, height: int) -> bytes:
    """An RLE4 BMP whose rows are runs of 254 pixels (and the rest), of greys 48 and 192 by turns
    (each run starts with the first), each row ended by an end of line."""
    row = b"\xfe\x3c" * (width // 254) + bytes((width % 254, 0x3C)) + b"\x00\x00"
    return rle_bmp(width, height, row * height, rle4=True)


def test_an_intact_rle4_bmp_of_millions_of_pixels_decodes() -> None:
    """Pillow's decoder wrote an RLE4 run's pixels one at a time, in Python: such a picture over ~7.9 M
    pixels was refused as too costly. Ours writes a run at a time."""
    height, width = 2_000, 4_500
    decoded = decode_image(rle4_rows(width, height), LIMIT)
    assert (decoded.pixels == np.resize([48, 192], width)[None, :, None]).all()


def test_an_rle_bmp_of_rows_an_end_of_line_ends_early_decodes() -> None:
    """Pillow's decoder padded such a row a pixel at a time, in Python: this 16 KiB RLE8 BMP of
    4000x4000, a pixel and an end of line a row, held a core 2-4 s and was refused. Ours skips the
    padding: 8,000 codes."""
    decoded = decode_image(rle_bmp(4_000, 4_000, b"\x01\x07\x00\x00" * 4_000), LIMIT)
    assert (decoded.pixels[:, 0] == 7).all() and not decoded.pixels[:, 1:].any()


def test_an_rle_bmp_of_more_codes_than_the_most_is_too_large() -> None:
    """10 MiB of end of line codes that pad nothing: each costs a step, so past the most the picture is
    too costly, not damaged."""
    codes = b"\x00\x00" * (5 << 20)
    assert len(codes) // 2 > bmp_rle.MAX_CODES
    with pytest.raises(ImageTooLarge, match=f"an RLE-compressed BMP of more than {bmp_rle.MAX_CODES} codes"):
        decode_image(rle_bmp(100, 100, codes), LIMIT)


@pytest.mark.parametrize(
    ("at", "field"),
    [(18, struct.pack("<i", 0)), (22, struct.pack("<i", 0)), (14, struct.pack("<I", 99))],
    ids=["width 0", "height 0", "header size 99"],
)
def test_a_bmp_with_a_damaged_header_is_corrupt_not_another_format(at: int, field: bytes) -> None:
    """Pillow's BMP reader raised SyntaxError for a zero width or height, which Image.open takes for
    another format (415), and OSError for an unknown header size (422)."""
    data = encoded(asymmetric(), "BMP")
    with pytest.raises(CorruptImage, match="the BMP header could not be read"):
        decode_image(data[:at] + field + data[at + len(field) :], LIMIT)


def test_a_png_whose_ancillary_chunk_has_a_wrong_crc_decodes_as_browsers_show_it() -> None:
    """Chromium drops such a chunk and shows the picture; Pillow refused the file (422). A damaged tRNS
    is dropped too: the picture is opaque, not its colour transparent (black)."""
    red = Image.new("RGB", (8, 8), (200, 10, 10))
    text = with_png_chunks(encoded(red, "PNG"), png_chunk(b"tEXt", b"Comment\x00hello"))
    assert np.array_equal(decode_image(with_bad_crc(text, b"tEXt"), LIMIT).pixels, np.asarray(red))
    keyed = encoded(red, "PNG", transparency=(200, 10, 10))
    assert not decode_image(keyed, LIMIT).pixels.any()
    assert np.array_equal(decode_image(with_bad_crc(keyed, b"tRNS"), LIMIT).pixels, np.asarray(red))


@pytest.mark.parametrize("kind", [b"IHDR", b"PLTE"])
def test_a_png_whose_header_or_palette_has_a_wrong_crc_is_corrupt(kind: bytes) -> None:
    """As chromium refuses it (it shows one whose IDAT or IEND CRC is wrong, as Pillow does)."""
    with pytest.raises(CorruptImage, match="PNG"):
        decode_image(with_bad_crc(encoded(Image.new("P", (8, 8), 3), "PNG"), kind), LIMIT)


def test_an_rle_bmp_of_800_000_absolute_runs_is_too_large() -> None:
    """Absolute runs of 3 pixels are the costliest codes to decode: 800,000 of them, 3.2 MB, held a core
    1.2 s, more than the walk and Pillow's decoder took on any file before."""
    codes = b"\x00\x03\x12\x30" * 800_000
    with pytest.raises(ImageTooLarge, match="an RLE-compressed BMP of more than"):
        decode_image(rle_bmp(4_000, 4_000, codes, rle4=True), LIMIT)


def test_a_gif_of_a_thousand_frames_decodes() -> None:
    """A graphic control extension a frame; Pillow reads up to the first frame only, as the count does."""
    frames = [Image.new("RGB", (8, 8), (i % 256, i // 256, 0)) for i in range(1_000)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)
    assert decode_image(gif, LIMIT).pixels[4, 4].tolist() == [0, 0, 0]


def test_formats_outside_the_accepted_list_are_415() -> None:
    """Pillow reads forty formats; the service reads those browsers and cameras write."""
    picture = asymmetric()
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "AVIF"):
        assert decode_image(encoded(picture, fmt), LIMIT).pixels.shape == (20, 40, 3)
    for fmt in ("ICO", "PPM", "TGA", "PCX", "DDS"):
        with pytest.raises(UnsupportedMediaType, match="JPEG, PNG, GIF, WEBP, BMP, TIFF, AVIF"):
            decode_image(encoded(picture, fmt), LIMIT)


def test_an_avif_is_decoded_on_the_calling_thread_alone() -> None:
    """Decoding runs in an inference worker that holds its cores; Pillow's AVIF decoder started a dav1d
    thread per core for each picture (two here, as many as the process may run on)."""
    data = encoded(
        Image.fromarray(np.random.default_rng(5).integers(0, 256, (512, 512, 3), np.uint8)), "AVIF"
    )
    with threads_seen() as seen:
        assert decode_image(data, LIMIT).pixels.shape == (512, 512, 3)
    assert seen  # the watch ran while the picture decoded
    assert not {name for names in seen for name in names if name.startswith("dav1d")}


@contextmanager
def threads_seen() -> Iterator[list[list[str]]]:
    """The names of this process's threads (native ones too, from /proc), read over and over while the
    block runs: a decoder's threads live as long as its decode."""
    seen: list[list[str]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append([name for task in Path("/proc/self/task").iterdir() if (name := _thread_name(task))])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def _thread_name(task: Path) -> str:
    try:
        return (task / "comm").read_text().strip()
    except OSError:  # the thread ended since its folder was listed
        return ""


@pytest.mark.parametrize("major_brand", AVIF_MAJOR_BRANDS)
def test_a_damaged_avif_is_corrupt(major_brand: bytes) -> None:
    """Pillow's AVIF decoder raises RuntimeError for damaged data (fuzzing found it as a 500). One whose
    major brand is HEIF's was known by its first bytes only (ftypavif): not an image format, 415."""
    data = bytearray(with_major_brand(encoded(asymmetric(), "AVIF"), major_brand))
    assert decode_image(bytes(data), LIMIT).format == "AVIF"
    tail = len(data) // 10  # in the coded pixels, after the header
    data[-tail:] = b"\xff" * tail
    with pytest.raises(CorruptImage, match="AVIF"):
        decode_image(bytes(data), LIMIT)
    with pytest.raises(CorruptImage, match="AVIF header"):
        decode_image(bytes(data[:200]), LIMIT)  # cut short in its header


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # Pillow on the cut TIFFs
@pytest.mark.parametrize("fmt", ["PNG", "GIF", "TIFF", "WEBP", "JPEG", "AVIF", "BMP"])
def test_a_file_cut_inside_its_header_is_corrupt_not_another_format(fmt: str) -> None:
    data = encoded(asymmetric(), fmt)
    for length in range(16, min(len(data), 200)):
        try:
            decode_image(data[:length], LIMIT)
        except CorruptImage:
            continue
        except UnsupportedMediaType:
            pytest.fail(f"{fmt} cut at {length} bytes answered as not an image")
