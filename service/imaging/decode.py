"""Bytes -> RGB pixels. Limits are checked before pixels are decoded; JPEGs are decoded by libjpeg-turbo
(simplejpeg) straight into a numpy array, at the smallest DCT scale (in eighths) that still gives the
size the model needs. Other formats go through Pillow."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
import simplejpeg
from PIL import AvifImagePlugin, Image, ImageFile, TiffImagePlugin, UnidentifiedImageError

from service.errors import CorruptImage, ImageTooLarge, MissingImage, UnsupportedMediaType
from service.imaging import avif, bmp_rle, gif_header, jpeg_header, tiff_header
from service.imaging.png_chunks import (
    SMALL_CHUNK_BYTES,
    exif_chunks,
    small_chunk_count,
    without_damaged_ancillary_chunks,
)

# Pillow gives every image buffer back to the OS by default, so each decode page-faults its pixels in
# again: 2.0-2.5 ms instead of 0.4 ms for a 512x600 BMP here. Keep up to 16 blocks of 1 MiB for reuse
# (PILLOW_BLOCK_SIZE / PILLOW_BLOCKS_MAX in Pillow's block allocator).
Image.core.set_block_size(1 << 20)
Image.core.set_blocks_max(16)
# The pixel limit is the service's own (max_pixels, checked from the header below); Pillow's built-in
# one (89 M pixels) would cap MVA_MAX_PIXELS and answer with its own figure.
Image.MAX_IMAGE_PIXELS = None
# Decoding runs inside an inference worker that holds its cores (as OpenCV does in preprocess.py): an
# AVIF's decoder (libavif, dav1d) would start a thread per core the process may run on.
AvifImagePlugin.DEFAULT_MAX_THREADS = 1

# What browsers, phones and cameras write. Pillow reads some forty more formats, several rare and less
# hardened: fuzzing found DDS, BLP and SPIDER files that raised unexpected errors, and an ICO whose
# embedded PNG is decoded whole before any size check. Those get 415.
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
Image.init()
# An RLE-compressed BMP's pixels by our decoder, not Pillow's (which writes them one at a time, in
# Python): registered after Image.init(), which imports Pillow's BMP reader, which registers its own.
Image.register_decoder("bmp_rle", bmp_rle.BmpRleDecoder)
_PILLOW_FORMATS = [f for f in ACCEPTED_FORMATS if f in Image.OPEN]
# How files of the accepted formats begin: one that begins so but has no readable header is damaged
# (422), not some other format (415).
_SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "TIFF": tuple(TiffImagePlugin.PREFIXES),  # both byte orders, classic TIFF and BigTIFF
}
# A BMP is "BM" and its DIB header's size at byte 14 (12 to 124 bytes as written; Pillow asks no more,
# and a zero width or a header cut before its size raise errors Image.open takes for another format).
# Text that begins "BM" ("BMW...") has printable bytes there, 0x20202020 or more as a number: no image.
_BMP_HEADER_SIZE = struct.Struct("<I")
_MOST_BMP_HEADER_BYTES = 0xFFFF
# A progressive JPEG's decode time grows with its scans, each a pass over every coefficient: a 250 KB
# file of 7000x7000 pixels with 2,000 repeated scans held a core for 15 s. Encoders write about 10.
MAX_JPEG_SCANS = 100
# Pillow reads a JPEG's header in Python, a step a marker or stray byte (jpeg_header.py): 2.6 us and
# up to 130 bytes kept a segment. Encoders write a few dozen; 10 MB of empty ones held a core 9.5 s.
MAX_JPEG_HEADER_STEPS = 10_000
# Pillow reads a PNG's chunks in Python (png_chunks.py): 4-10 us each. 10 MB of empty ones held a core
# 4.5 s. Those of 1 KiB or more are bounded by the upload's size (a 10 MiB PNG of 1 KiB image data
# chunks has 10,000, read in 70 ms); of smaller ones encoders write a handful, an APNG two a frame.
MAX_SMALL_PNG_CHUNKS = 10_000
# Pillow reads a GIF's blocks before its first image in Python (gif_header.py): 0.2-0.6 us a step. 10 MB
# of empty comments held a core ~2 s. Sub-blocks of 255 bytes, as encoders write them, could not reach
# this within the upload limit (12.8 MB); XMP's text is read as sub-blocks of ~70 bytes.
MAX_GIF_HEADER_STEPS = 50_000
# Pillow parses a TIFF's IFD entries in Python (tiff_header.py): ~10 us each, its first IFD's three
# times. 65,000 in the first IFD and as many in the EXIF IFD, 1.5 MB, held a core 2 s; a camera's or a
# scanner's TIFF has a few dozen an IFD.
MAX_TIFF_IFD_ENTRIES = 5_000


@dataclass(frozen=True)
class _HeaderWalk:
    """Pieces of a header that Pillow reads in Python, one at a time."""

    count: Callable[[bytes | memoryview, int], int]  # (data, most) -> how many, up to most + 1
    most: int
    subject: str  # what has them, in the error message
    pieces: str  # what they are


def _exif_ifd_entries(
    blocks: Callable[[bytes | memoryview], Iterable[bytes | memoryview]],
    first_ifd_reads: int,
    data: bytes | memoryview,
    most: int,
) -> int:
    """The most IFD entries Pillow parses of one of the EXIF `blocks` of `data` (its first IFD's
    `first_ifd_reads` times), counted up to `most` + 1: the blocks after one above `most` are not read."""
    highest = 0
    for block in blocks(data):
        highest = max(highest, tiff_header.exif_ifd_entries(block, most, first_ifd_reads))
        if highest > most:
            break
    return highest


# Pillow parses an EXIF block's first IFD in Python too, 4-6 us an entry (`_orientation`), and a PNG's
# eXIf chunk or an AVIF's EXIF item is as large as the upload: 65,535 entries of distinct tags, 790 KB,
# held a core 0.25-0.4 s, an AVIF's twice (Pillow's reader parses it on opening, `_orientation` again).
# The TIFF bound, EXIF being a TIFF header; a camera writes a few dozen entries, and a JPEG's EXIF fits
# a 64 KB segment (~5,400 entries at most).
_EXIF_PIECES = "IFD entries to parse"
# A format's walks, in the order they are checked (an AVIF's: `_avif_walks`; a PNG's EXIF: below).
_HEADER_WALKS: dict[str, tuple[_HeaderWalk, ...]] = {
    "JPEG": (
        _HeaderWalk(
            jpeg_header.header_steps,
            MAX_JPEG_HEADER_STEPS,
            "JPEG header",
            "markers and stray bytes before its first scan",
        ),
    ),
    "PNG": (
        _HeaderWalk(
            small_chunk_count, MAX_SMALL_PNG_CHUNKS, "PNG", f"chunks of under {SMALL_CHUNK_BYTES} bytes"
        ),
    ),
    "GIF": (
        _HeaderWalk(
            gif_header.header_steps,
            MAX_GIF_HEADER_STEPS,
            "GIF header",
            "blocks, sub-blocks and stray bytes before its first image",
        ),
    ),
    "TIFF": (
        _HeaderWalk(
            tiff_header.ifd_entries,
            MAX_TIFF_IFD_ENTRIES,
            "TIFF",
            "IFD entries to parse (its first IFD's three times, and the EXIF, GPS and Interop IFDs')",
        ),
    ),
}
# A PNG's eXIf chunks before the image data, parsed once: walked after its small chunks are counted
# (the walk that drops damaged ancillary chunks steps through them all) and once the damaged ones are
# dropped, as browsers drop them, so that each chunk's CRC is computed once.
_PNG_EXIF_WALK = _HeaderWalk(
    partial(_exif_ifd_entries, exif_chunks, 1), MAX_TIFF_IFD_ENTRIES, "PNG's EXIF", _EXIF_PIECES
)
# Start of scan: FF DA, then its length, which fixes the component count that follows (1 to 4).
_START_OF_SCAN = re.compile(rb"\xff\xda\x00(?:\x08\x01|\x0a\x02|\x0c\x03|\x0e\x04)")

# What Pillow and simplejpeg raise for damaged data (found by tests/imaging/test_fuzz.py).
# RuntimeError: AVIF's decoder for damaged data.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
)
# Orientations 5..8 swap width and height (EXIF tag 0x0112).
_SWAPS_AXES = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
# What Pillow's getexif() looks for in a JPEG's XMP to fill in an orientation the EXIF block lacks.
_XMP_ORIENTATION = b"tiff:Orientation"
# Pillow names a JPEG that carries an MP Format index (a phone's Ultra HDR gain map or depth map, a
# camera's preview) MPO; its first image is the JPEG every viewer shows, so it takes the JPEG path.
_JPEG_FORMATS = ("JPEG", "MPO")
# Pillow's TIFF reader applies the orientation tag itself as it loads (TiffImagePlugin.load_end) and
# gives the upright size from the header on: turning it here too would turn it twice.
_UPRIGHT_WHEN_READ = {"TIFF"}
# A WebP's EXIF orientation is shown by no browser but Safari: the container puts the EXIF chunk after
# the image data (RFC 9649), where CSS Images 3 lets browsers ignore orientation metadata, and Chromium
# and Firefox do, as libwebp's own decoder. The page (web/) runs on the picture its browser decodes and
# draws the server's faces on it: turned here, they were in another frame (tests/browser/test_page.py).
_ORIENTATION_IGNORED = {"WEBP"}
# Pillow's raw modes of the PNG greyscale depths under 8 bits it stores as mode L (1-bit is mode "1").
_GREY_BITS = {"L;2": 2, "L;4": 4}
# Pillow's raw mode of a 16-bit RGB PNG, which it stores as 8-bit RGB: each sample's high byte. The
# same samples read as little-endian ones give each one's low byte.
_RGB_HIGH_BYTES = "RGB;16B"
_RGB_LOW_BYTES = "RGB;16L"
# JPEG modes libjpeg-turbo converts to RGB itself (YCbCr, RGB, greyscale); CMYK/YCCK go through Pillow.
_TURBO_MODES = {"RGB", "L"}
# EXIF orientation -> the view of the stored pixels that stands the picture up.
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda p: p[:, ::-1],  # mirrored
    3: lambda p: p[::-1, ::-1],  # rotated 180
    4: lambda p: p[::-1],  # mirrored vertically
    5: lambda p: p.transpose(1, 0, 2),  # transposed
    6: lambda p: p.transpose(1, 0, 2)[:, ::-1],  # stored rotated 90 counter-clockwise
    7: lambda p: p[::-1, ::-1].transpose(1, 0, 2),  # transversed
    8: lambda p: p.transpose(1, 0, 2)[::-1],  # stored rotated 90 clockwise
}


@dataclass(frozen=True)
class DecodedImage:
    # RGB uint8 [H, W, 3], C-contiguous, EXIF orientation applied (not a WebP's), maybe DCT-downscaled
    pixels: np.ndarray
    width: int  # of the original picture, after EXIF orientation
    height: int
    format: str
    scale: float = 1.0  # decoded pixels per original pixel: a JPEG's DCT scale n/8, else 1

    @property
    def decoded_width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def decoded_height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def coverage(self) -> tuple[float, float]:
        """The share of the decoded width and height the picture fills: libjpeg rounds a DCT-scaled size
        up (209 rows at 1/8 give 27, not 26.125), so the last column and row are partly block padding."""
        return (
            self.width * self.scale / self.decoded_width,
            self.height * self.scale / self.decoded_height,
        )


MinSize = Callable[[int, int], tuple[int, int]]


def decode_image(data: bytes | memoryview, max_pixels: int, min_size: MinSize | None = None) -> DecodedImage:
    """Decode `data`. `min_size(width, height)` of the upright picture gives the smallest decoded size
    the caller can use, which allows DCT downscaling of JPEGs down to it."""
    if len(data) == 0:
        raise MissingImage("the request body is empty: send an image")
    signed = _format_by_signature(data)
    _refuse_a_header_flood(data, signed)
    if signed == "PNG":  # as browsers read it: the page runs the model on the pixels its browser decodes
        data = without_damaged_ancillary_chunks(data)
        _refuse_a_flood(data, _PNG_EXIF_WALK)  # of the eXIf chunks kept: a damaged one is not parsed
    try:
        image = _open(data, signed)
    except UnidentifiedImageError as exc:
        if signed is not None:
            raise CorruptImage(f"the {signed} header could not be read (damaged or cut short)") from exc
        raise _not_an_image() from exc
    except _DECODE_ERRORS as exc:
        if signed is None:  # a reader that takes less than a signature for its format ("BM...") failed
            raise _not_an_image() from exc
        raise CorruptImage(f"the {signed} header could not be read: {exc}") from exc
    _scale_grey_key(image)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    tile_width, tile_height = _tiff_tile(image)
    tile_pixels = tile_width * tile_height
    if tile_pixels > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} in TIFF tiles of {tile_width}x{tile_height} = {tile_pixels} pixels,"
            f" each decoded whole; the limit is {max_pixels}"
        )
    fmt = image.format or "unknown"
    if fmt in _JPEG_FORMATS and image.info.get("progressive"):
        # counted up to one past the limit: a list of every match of 10 MiB of scan headers was ~100 MB
        found = itertools.islice(_START_OF_SCAN.finditer(data), MAX_JPEG_SCANS + 1)
        if sum(1 for _ in found) > MAX_JPEG_SCANS:
            raise CorruptImage(
                f"the progressive JPEG has more than {MAX_JPEG_SCANS} scans; "
                f"at most {MAX_JPEG_SCANS} are read"
            )
    try:
        stands_as_stored = fmt in _UPRIGHT_WHEN_READ or fmt in _ORIENTATION_IGNORED
        orientation = 1 if stands_as_stored else _orientation(image)
        swapped = orientation in _SWAPS_AXES
        want_w, want_h = (0, 0)
        if min_size is not None and fmt in _JPEG_FORMATS:
            want_w, want_h = min_size(*((height, width) if swapped else (width, height)))
            if swapped:
                want_w, want_h = want_h, want_w
        pixels = None
        # strict libjpeg-turbo refuses what libjpeg only warns about (extraneous bytes, a bad Huffman
        # code: pictures a browser still shows); Pillow decides those below, as it always did
        with contextlib.suppress(ValueError):
            if fmt in _JPEG_FORMATS and image.mode in _TURBO_MODES:
                pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=want_w, min_height=want_h)
        if pixels is None:
            if want_w:
                # the same DCT scaling through Pillow; "RGB" lets libjpeg convert YCbCr itself
                image.draft("RGB" if image.mode != "CMYK" else None, (want_w, want_h))
            pixels = _pillow_pixels(image, data)
    except bmp_rle.TooManyCodes as exc:  # intact, but too costly to decode: as for the pixel limit
        raise ImageTooLarge(
            f"an RLE-compressed BMP of more than {bmp_rle.MAX_CODES} codes is not decoded "
            "(each costs a step in Python)"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the {fmt} image could not be decoded: {exc}") from exc
    scale = dct_scale(width, height, pixels.shape[1], pixels.shape[0])
    if swapped:
        width, height = height, width
    return DecodedImage(upright(pixels, orientation), width, height, fmt, scale)


def _avif_walks(data: bytes | memoryview) -> tuple[_HeaderWalk, ...]:
    """An AVIF's walks, in the order they are checked; both are of its EXIF items, whose list (the
    meta box's iinf, up to 10,000 entries to step through in Python) is walked once for the two."""
    items = avif.exif_items(data)
    return (
        # each as large as the upload at most (an item's extents may repeat the file): more than a
        # writer makes would be as many uploads' bytes gathered. Counted by exif_items above, on this
        # `data` and up to MOST_EXIF_ITEMS + 1: the (data, most) every walk is given add nothing
        _HeaderWalk(lambda _data, _most: items.count, avif.MOST_EXIF_ITEMS, "AVIF", "EXIF items"),
        # its EXIF items, their first IFD parsed twice (Pillow's reader on opening, `_orientation` again)
        _HeaderWalk(
            partial(_exif_ifd_entries, partial(avif.exif_payloads, items=items), 2),
            MAX_TIFF_IFD_ENTRIES,
            "AVIF's EXIF",
            _EXIF_PIECES,
        ),
    )


def _refuse_a_header_flood(data: bytes | memoryview, signed: str | None) -> None:
    """CorruptImage for a header of more pieces than Pillow should walk one at a time (`_HEADER_WALKS`,
    an AVIF's `_avif_walks`), counted from the bytes before Pillow opens the file."""
    walks = _avif_walks(data) if signed == "AVIF" else _HEADER_WALKS.get(signed or "", ())
    for walk in walks:
        _refuse_a_flood(data, walk)


def _refuse_a_flood(data: bytes | memoryview, walk: _HeaderWalk) -> None:
    """CorruptImage if `walk` counts more pieces in `data` than it allows."""
    if walk.count(data, walk.most) > walk.most:
        raise CorruptImage(
            f"the {walk.subject} has more than {walk.most} {walk.pieces}; at most that many are read"
        )


def _not_an_image() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"the body is not an image format this service reads ({', '.join(_PILLOW_FORMATS)})"
    )


def _open(data: bytes | memoryview, signed: str | None) -> ImageFile.ImageFile:
    """Pillow's reader of the picture, which has read its header only; `signed` is the format its first
    bytes name. An AVIF whose EXIF Pillow or libavif cannot read (both refuse the picture) is opened
    without it: a browser ignores such EXIF, as `_orientation` does for the other formats."""
    if signed != "AVIF":
        return Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    # an AVIF is known by its brands (avif.is_avif), opened by Pillow's AVIF reader itself: Image.open
    # asks that reader only of files whose major brand is one of four, where the format lets avif be
    # any compatible brand (libavif checks them)
    try:
        return AvifImagePlugin.AvifImageFile(io.BytesIO(data))
    except _DECODE_ERRORS:
        without = avif.without_exif(data)
        if without is None:
            raise
    return AvifImagePlugin.AvifImageFile(io.BytesIO(without))


def dct_scale(width: int, height: int, decoded_width: int, decoded_height: int) -> float:
    """The scale n/8 a JPEG of `width` x `height` was decoded at, from the size libjpeg gave (each side
    rounded up, as simplejpeg's and Pillow's draft decodes both do); 1.0 for a whole decode. From 8/8 down:
    a side under 8 pixels has several scales that round to its size, and such a picture is decoded whole."""
    for n in range(8, 0, -1):
        if (-(-width * n // 8), -(-height * n // 8)) == (decoded_width, decoded_height):
            return n / 8
    return 1.0


def _format_by_signature(data: bytes | memoryview) -> str | None:
    head = bytes(data[:18])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if avif.is_avif(data):
        return "AVIF"
    if head.startswith(b"BM"):
        cut = len(head) < 18
        return "BMP" if cut or _BMP_HEADER_SIZE.unpack_from(head, 14)[0] <= _MOST_BMP_HEADER_BYTES else None
    return next((fmt for fmt, starts in _SIGNATURES.items() if head.startswith(starts)), None)


def upright(pixels: np.ndarray, orientation: object) -> np.ndarray:
    """Apply an EXIF orientation (as Pillow's ImageOps.exif_transpose) to [H, W, C] pixels; unknown
    values leave them as they are."""
    turn = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


def _tiff_tile(image: Image.Image) -> tuple[int, int]:
    """A tiled TIFF's tile size from its header, (0, 0) for any other picture. libtiff decodes a tile
    whole, into a buffer of its size whatever the picture's: a 16x16 TIFF of 16384x16384 tiles, 300
    bytes, held 800 MB and a core for 3.5 s under a pixel limit that looked at 256 pixels only."""
    if not isinstance(image, TiffImagePlugin.TiffImageFile):
        return 0, 0
    width, height = (image.tag_v2.get(tag) for tag in (TiffImagePlugin.TILEWIDTH, TiffImagePlugin.TILELENGTH))
    return (width, height) if isinstance(width, int) and isinstance(height, int) else (0, 0)


def _orientation(image: Image.Image) -> object:
    """The orientation tag of the EXIF block read with the header, as browsers read it: not Pillow's
    getexif(), which falls back on an XMP tiff:Orientation or a PNG's "Raw profile type exif" text, and
    loads a PNG's pixels to find an eXIf chunk after them: chromium shows all those pictures as stored,
    and the page draws the server's faces on the picture its browser decodes. 1 for EXIF that cannot be
    read, which a browser ignores too (a PNG's damaged eXIf chunk was a 422)."""
    try:
        return _exif_block(image).get(_EXIF_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1


def _exif_block(image: Image.Image) -> Image.Exif:
    """The EXIF block read with the header, parsed once. Pillow's JPEG reader parses it on opening (for
    a resolution its JFIF header lacks) and keeps that for getexif(): a second parse took 15-100 us a
    request. getexif() adds an XMP tiff:Orientation only where the block has none, so it is the block's
    own unless the XMP names one."""
    if image.format in _JPEG_FORMATS and _XMP_ORIENTATION not in image.info.get("xmp", b""):
        return image.getexif()
    exif = Image.Exif()
    exif.load(image.info.get("exif", b""))
    return exif


def _scale_grey_key(image: ImageFile.ImageFile) -> None:
    """A 2- or 4-bit greyscale PNG's transparent grey in the 0..255 values Pillow unpacks its pixels to:
    Pillow keeps the tRNS value as stored (1 of 0..3), so the grey it names (85) was never transparent."""
    bits = _GREY_BITS.get(str(image.tile[0].args)) if image.format == "PNG" and image.tile else None
    key = image.info.get("transparency")
    if bits is not None and isinstance(key, int):
        image.info["transparency"] = key * 255 // ((1 << bits) - 1)


def _pillow_pixels(image: ImageFile.ImageFile, data: bytes | memoryview) -> np.ndarray:
    # first frame of an animation; an APNG's default image outside its animation (frame 0 in Pillow) is
    # only the fallback for viewers without APNG: browsers show the animation's first frame
    fallback = image.format == "PNG" and image.info.get("default_image") and getattr(image, "n_frames", 1) > 1
    image.seek(1 if fallback else 0)
    low_bytes = _sixteen_bit_rgb_low_bytes(image, data)
    image.load()
    if low_bytes is not None:
        return _wide_key_black(np.asarray(image), low_bytes, image.info.pop("transparency"))
    return _outside_the_first_gif_frame_black(image, _rgb_pixels(image))


def _sixteen_bit_rgb_low_bytes(image: ImageFile.ImageFile, data: bytes | memoryview) -> np.ndarray | None:
    """The low bytes of a 16-bit RGB PNG's samples, if it names a transparent colour (tRNS); None for
    any other picture. Pillow has no 16-bit RGB mode and keeps each sample's high byte: the 16-bit key
    matched none of them, or, under 256, other colours. The same tile decoded again as little-endian
    samples keeps each one's second byte, its low one, through the same PNG filters. Called before
    `load()`, which empties the tile list; an APNG's later frames are drawn over earlier ones, so only
    frame 0 is read again."""
    key = image.info.get("transparency")
    raw_modes = [tile.args for tile in image.tile]
    if image.format != "PNG" or not isinstance(key, tuple) or raw_modes != [_RGB_HIGH_BYTES] or image.tell():
        return None
    low = Image.open(io.BytesIO(data), formats=["PNG"])
    low.tile = [tile._replace(args=_RGB_LOW_BYTES) for tile in low.tile]
    low.load()
    return np.asarray(low)


def _wide_key_black(high: np.ndarray, low: np.ndarray, key: tuple[int, int, int]) -> np.ndarray:
    """The pixels with those of the 16-bit colour `key` black, compared at 16 bits as libpng does."""
    keyed = ((high.astype(np.uint16) << 8 | low) == key).all(axis=2)
    pixels = high.copy()
    pixels[keyed] = 0
    return pixels


def _outside_the_first_gif_frame_black(image: Image.Image, pixels: np.ndarray) -> np.ndarray:
    """A GIF's first frame may cover part of its screen only. Browsers leave the rest transparent (a
    canvas reads (0, 0, 0, 0), black over the page's black); Pillow fills it with palette colour 0, unless
    the frame has a transparent colour, whose fill the compositing over black already turns black."""
    extent = getattr(image, "dispose_extent", None)
    if image.format != "GIF" or extent is None or "transparency" in image.info:
        return pixels
    left, top, right, bottom = extent
    if (left, top, right, bottom) == (0, 0, *image.size):
        return pixels
    covered = np.zeros_like(pixels)
    covered[top:bottom, left:right] = pixels[top:bottom, left:right]
    return covered


def _rgb_pixels(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return np.asarray(image)
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: keep the top 8 bits (Pillow's convert("L") would clip at 255). Mode I is
        # 32-bit signed: values outside 16 bits are clipped, not wrapped round to any byte
        wide = np.clip(np.asarray(image, dtype=np.int32), 0, 0xFFFF)
        shift = 8 if mode.startswith("I;16") or wide.max(initial=0) > 255 else 0
        grey = (wide >> shift).astype(np.uint8)
        key = image.info.get("transparency")
        if isinstance(key, int):  # a 16-bit PNG's transparent grey, compared at 16 bits as libpng does
            grey[wide == key] = 0
        return _grey_to_rgb(grey)
    if mode == "F":
        return _grey_to_rgb(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    # a palette's alpha, or the one transparent colour a tRNS chunk gives a greyscale or RGB PNG
    keyed = "transparency" in image.info and mode in ("P", "L", "RGB", "1")
    if keyed or mode in ("PA", "LA", "RGBa", "La"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        # Composite over black, as a browser canvas reads transparent pixels (0, 0, 0, 0).
        background = Image.new("RGB", image.size, (0, 0, 0))
        background.paste(image, mask=image.getchannel("A"))
        return np.asarray(background)
    return np.asarray(image.convert("RGB"))  # L, P, CMYK, YCbCr, 1, ...


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
