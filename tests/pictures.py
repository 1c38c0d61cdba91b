"""Pictures made in a test, as the bytes of a file a client would send."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags

from service.annotate import annotate
from service.imaging.decode import decode_image
from service.tasks.detection.projection import Face, Keypoint


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """`image` saved in format `fmt` (Pillow's name: "PNG", "JPEG", "GIF"...) with Pillow's save
    `params` (quality, exif, save_all, append_images...)."""
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def noise_jpeg() -> bytes:
    """A 96x96 JPEG of random (seeded) pixels: little of it compresses, so its first 1,500 bytes are a
    picture cut mid-scan."""
    return encoded(
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)), "JPEG"
    )


def drawn(data: bytes, answer: dict[str, Any]) -> np.ndarray:
    """The RGB pixels of the picture `data`, decoded whole, with the faces of `answer` (a /detect JSON
    answer) drawn on it as annotate=true draws them: what an annotated answer for the same upload must
    show."""
    whole = decode_image(data, max_pixels=1 << 40)  # a test's own picture: no limit
    faces = [
        Face(
            f["score"],
            f["box"]["x_min"],
            f["box"]["y_min"],
            f["box"]["x_max"],
            f["box"]["y_max"],
            [Keypoint(k["name"], k["x"], k["y"]) for k in f["keypoints"]],
        )
        for f in answer["faces"]
    ]
    png = annotate(whole.pixels, faces, (whole.width, whole.height), "PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def with_repeated_scan(progressive_jpeg: bytes, times: int) -> bytes:
    """The file with its last scan (start-of-scan segment and its coded data) repeated: a valid header,
    and as many scans as wanted."""
    last = progressive_jpeg.rindex(b"\xff\xda")
    end = progressive_jpeg.rindex(b"\xff\xd9")
    return progressive_jpeg[:end] + progressive_jpeg[last:end] * times + progressive_jpeg[end:]


def with_major_brand(avif: bytes, brand: bytes) -> bytes:
    """The AVIF with `brand` as its ftyp box's major brand, its compatible brands (avif among them, as
    Pillow writes them) kept: still valid, its boxes where they were (item locations are file offsets)."""
    return avif[:8] + brand + avif[12:]


def isobmff_box(kind: bytes, content: bytes) -> bytes:
    """An ISOBMFF box (an AVIF's): its size (the header's 8 bytes included), its type, its content."""
    return struct.pack(">I4s", 8 + len(content), kind) + content


def avif_exif_item(
    extents: list[tuple[int, int]],
    field_size: int = 4,
    idat: bytes | None = None,
    after: bytes = b"",
    items: int = 1,
) -> bytes:
    """An AVIF's boxes (no picture) whose items 7, 8... (`items` of them) are EXIF, each in `extents`
    (offset, length) written in fields of `field_size` bytes (0: no bytes, read as 0): of the meta box's
    idat box, holding `idat`, if given (construction method 1, as no writer here makes it), else of the
    file; a free box holding `after` follows the meta box."""
    ids = range(7, 7 + items)
    # version 2 entries, each an EXIF item
    infe = b"".join(isobmff_box(b"infe", b"\2\0\0\0" + struct.pack(">HH", i, 0) + b"Exif") for i in ids)
    iinf = isobmff_box(b"iinf", bytes(4) + struct.pack(">H", items) + infe)  # version 0: a 2-byte count
    sizes = bytes([field_size << 4 | field_size, 0])  # offsets and lengths; no base offset, no index
    fields = b"".join(at.to_bytes(field_size) + length.to_bytes(field_size) for at, length in extents)
    # iloc version 1: each item's ID, construction method, data reference 0, its extents
    method = 0 if idat is None else 1
    listed = b"".join(struct.pack(">HHHH", i, method, 0, len(extents)) + fields for i in ids)
    iloc = isobmff_box(b"iloc", b"\1\0\0\0" + sizes + struct.pack(">H", items) + listed)
    stored = b"" if idat is None else isobmff_box(b"idat", idat)
    meta = isobmff_box(b"meta", bytes(4) + iinf + iloc + stored)
    ftyp = isobmff_box(b"ftyp", b"avif" + bytes(4) + b"mif1")
    return ftyp + meta + isobmff_box(b"free", after)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_image_data_in_chunks_of(png: bytes, size: int) -> bytes:
    """The PNG with its image data (its IDAT chunks' data, joined) split again in IDAT chunks of `size`
    bytes, the last one shorter, as encoders with another buffer size write it."""
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack_from(">I", png, at)
        chunks.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    first = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    image_data = b"".join(body for kind, body in chunks if kind == b"IDAT")
    split = [png_chunk(b"IDAT", image_data[i : i + size]) for i in range(0, len(image_data), size)]
    others = [png_chunk(kind, body) for kind, body in chunks if kind != b"IDAT"]
    return png[:8] + b"".join(others[:first] + split + others[first:])


def with_bad_crc(png: bytes, kind: bytes) -> bytes:
    """The PNG with the CRC of its first chunk of type `kind` wrong (every bit flipped)."""
    at = 8
    while png[at + 4 : at + 8] != kind:
        at += 12 + struct.unpack_from(">I", png, at)[0]
    crc_at = at + 8 + struct.unpack_from(">I", png, at)[0]
    return png[:crc_at] + bytes(byte ^ 0xFF for byte in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


def with_png_chunks(png: bytes, chunks: bytes, before_end: bool = False) -> bytes:
    """The PNG with `chunks` inserted after its IHDR chunk (the first, 25 bytes after the signature),
    or before its IEND chunk (the last, 12 bytes)."""
    at = len(png) - 12 if before_end else 8 + 25
    return png[:at] + chunks + png[at:]


def grey_png(values: np.ndarray, bit_depth: int, transparent: int) -> bytes:
    """A greyscale PNG of `values` ([H, W] ints below 2**bit_depth) at `bit_depth` 2, 4 (which Pillow does
    not write) or 16, with a tRNS chunk naming `transparent` (a stored value) as its transparent grey."""

    height, width = values.shape
    if bit_depth == 16:
        rows = [row.astype(">u2").tobytes() for row in values]
    else:  # samples packed into bytes, high bits first, each row padded to a whole byte
        rows = [
            np.packbits(np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, -bit_depth:]).tobytes()
            for row in values
        ]
    return _keyed_png(
        width, height, bit_depth, 0, struct.pack(">H", transparent), [b"\x00" + row for row in rows]
    )


def rgb16_png(values: np.ndarray, transparent: tuple[int, int, int]) -> bytes:
    """A 16-bit RGB PNG of `values` ([H, W, 3] ints below 65536), which Pillow does not write, with a
    tRNS chunk naming `transparent` as its transparent colour. Its rows are filtered by Sub (each byte
    less the one a pixel, 6 bytes, before it), which a reader undoes with the right pixel size only."""
    height, width, _ = values.shape
    samples = values.astype(">u2").reshape(height, width * 3).view(np.uint8)
    sub = samples.copy()
    sub[:, 6:] -= samples[:, :-6]  # modulo 256
    rows = [b"\x01" + row.tobytes() for row in sub]
    return _keyed_png(width, height, 16, 2, struct.pack(">3H", *transparent), rows)


def _keyed_png(
    width: int, height: int, bit_depth: int, colour_type: int, trns: bytes, rows: list[bytes]
) -> bytes:
    """A PNG of filtered `rows` (each its filter type byte, then the row) with the tRNS chunk `trns`."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"tRNS", trns)
        + png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + png_chunk(b"IEND", b"")
    )


def tiled_tiff(width: int, height: int, tile: int, colour: tuple[int, int, int]) -> bytes:
    """An RGB TIFF of `width` x `height` (at most `tile` a side) in one deflate-compressed `tile` x `tile`
    tile of `colour`, which Pillow does not write: a tile may be larger than its picture."""
    pixels = zlib.compress(bytes(colour) * (tile * tile))
    short, long = 3, 4  # TIFF field types
    entries = 11
    bits_at = 8 + 2 + entries * 12 + 4  # after the header, the IFD and its next-IFD offset
    tags = [(256, short, width), (257, short, height), (258, short, bits_at), (259, short, 8)]  # 8: deflate
    tags += [(262, short, 2), (277, short, 3), (284, short, 1), (322, long, tile), (323, long, tile)]
    tags += [(324, long, bits_at + 6), (325, long, len(pixels))]  # the tile: where, how many bytes
    ifd = b"".join(
        struct.pack("<HHII", tag, kind, 3, value)
        if tag == 258  # BitsPerSample 8, 8, 8: three SHORTs, stored at bits_at
        else struct.pack("<HHII" if kind == long else "<HHIHxx", tag, kind, 1, value)
        for tag, kind, value in tags
    )
    assert len(tags) == entries
    return b"II*\x00" + struct.pack("<IH", 8, entries) + ifd + bytes(4) + struct.pack("<3H", 8, 8, 8) + pixels


def tiff_with_private_tags(picture: Image.Image, tags: int) -> bytes:
    """`picture` as Pillow writes a TIFF, with `tags` private tags (none Pillow knows, 15,000 at most)
    more in its IFD."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    private = (
        tag for tag in range(50_000, 65_536) if tag not in TiffTags.TAGS_V2 and tag not in TiffTags.TAGS
    )
    for tag in itertools.islice(private, tags):
        info[tag] = 1
        info.tagtype[tag] = TiffTags.SHORT
    return encoded(picture, "TIFF", tiffinfo=info)


def exif_of_entries(entries: int, orientation: int | None = None) -> bytes:
    """An EXIF block as a JPEG holds it ("Exif\\0\\0", then a big-endian TIFF header) whose first IFD
    has `entries` entries: the orientation's, if given, then private tags' (the same ones again past
    15,000; Pillow's parse of distinct tags costs more)."""
    head = [(0x0112, orientation)] if orientation is not None else []
    tags = head + [(50_000 + i % 15_000, 1) for i in range(entries - len(head))]
    fields = b"".join(struct.pack(">HHIHH", tag, 3, 1, value, 0) for tag, value in tags)  # SHORT, 1 value
    return b"Exif\x00\x00MM\x00*" + struct.pack(">IH", 8, entries) + fields + bytes(4)


def rle_bmp(width: int, height: int, codes: bytes, rle4: bool = False, top_down: bool = False) -> bytes:
    """A BMP of `width` x `height` whose pixels are the RLE8 (or RLE4) `codes`, bottom row first (top row
    first if `top_down`), which Pillow does not write; its palette greys, palette index i grey i (i * 16
    in RLE4)."""
    bits, compression, colours = (4, 2, 16) if rle4 else (8, 1, 256)
    palette = b"".join(bytes((grey, grey, grey, 0)) for grey in range(0, 256, 256 // colours))
    info = struct.pack(
        "<IiiHHIIiiII",
        40,
        width,
        -height if top_down else height,
        1,
        bits,
        compression,
        len(codes),
        2835,
        2835,
        colours,
        0,
    )
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(codes), 0, 0, offset) + info + palette + codes


def rle8_codes(grey: np.ndarray) -> bytes:
    """The RLE8 codes of `grey` ([H, W] uint8), bottom row first, as an encoder writes them: a run for 2
    to 255 equal pixels, an absolute run (padded to 16 bits) for 3 to 255 others, a run of 1 for one or
    two others, an end of line a row, an end of bitmap."""
    codes = bytearray()
    for row in grey[::-1].tolist():
        at = 0
        while at < len(row):
            run = 1
            while at + run < len(row) and run < 255 and row[at + run] == row[at]:
                run += 1
            if run > 1:
                codes += bytes((run, row[at]))
                at += run
                continue
            end = at + 1  # others up to the next pair of equal pixels
            while end < len(row) and end - at < 255 and (end + 1 == len(row) or row[end + 1] != row[end]):
                end += 1
            others = bytes(row[at:end])
            if len(others) > 2:
                codes += bytes((0, len(others))) + others + bytes(len(others) % 2)
            else:
                codes += b"".join(bytes((1, value)) for value in others)
            at = end
        codes += b"\x00\x00"
    return bytes(codes + b"\x00\x01")


def gif_with_frame_at(frame: Image.Image, screen: tuple[int, int], at: tuple[int, int]) -> bytes:
    """A GIF of a `screen` (width, height) whose one frame, `frame`, sits at `at` (left, top) and covers
    part of it: Pillow writes a frame at (0, 0) on a screen of its size, so its header and image
    descriptor are rewritten."""
    data = bytearray(encoded(frame, "GIF"))
    data[6:10] = struct.pack("<HH", *screen)
    position = _gif_blocks_start(data)
    while data[position] == 0x21:  # extension blocks: label, then sub-blocks up to an empty one
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    assert data[position] == 0x2C  # the image descriptor: left, top, width, height
    data[position + 1 : position + 5] = struct.pack("<HH", *at)
    return bytes(data)


def with_gif_blocks(gif: bytes, blocks: bytes) -> bytes:
    """The GIF with `blocks` (extensions, or any bytes) before its first block."""
    at = _gif_blocks_start(gif)
    return gif[:at] + blocks + gif[at:]


def _gif_blocks_start(gif: bytes | bytearray) -> int:
    """Where a GIF's blocks begin: past its header, logical screen and global colour table."""
    flags = gif[10]
    return 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
