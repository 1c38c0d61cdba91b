"""How many small chunks a PNG holds. Pillow's reader takes each chunk in Python, one at a time, with a
CRC check and (text, private chunks) a copy it keeps: 10 MB of empty tEXt, private or IDAT chunks,
870,000 of them, held a core 4-5 s before a pixel was decoded. A chunk costs it about the same
(4-10 us) whatever its type and size, so what bounds the work is how many chunks the bytes can hold:
chunks of 1 KiB or more are bounded by the upload's size (10 MiB of 1 KiB image data chunks, 10,000
of them, took 70 ms, against 13 ms in 1 MiB chunks), small ones are counted. Encoders split the image
data in chunks of 8-64 KB (libpng 8 KB), some in 1 KiB ones, the last one of each image or frame
smaller; besides them they write a handful of small chunks, an APNG two a frame."""

from __future__ import annotations

import struct
from collections.abc import Iterator

_SIGNATURE_SIZE = 8
# A chunk: its data's length and its type (8 bytes), the data, a CRC (4 bytes).
_HEAD_SIZE = 8
_CRC_SIZE = 4
_END = b"IEND"
_IMAGE_DATA = b"IDAT"
_EXIF = b"eXIf"
# A chunk whose data is shorter is a small one.
SMALL_CHUNK_BYTES = 1024


def small_chunk_count(data: bytes | memoryview, most: int) -> int:
    """The chunks of under SMALL_CHUNK_BYTES up to IEND or the end of `data`, counted up to `most` + 1 at
    most: the walk stops there, so a file of millions of chunks costs no more to count than `most` and
    the larger ones its bytes hold. All of them, not only those before the image data: Pillow reads
    text after it too, and an APNG's frame it shows."""
    count = 0
    at = _SIGNATURE_SIZE
    end = len(data)
    while count <= most and at + _HEAD_SIZE <= end:
        length, kind = struct.unpack_from(">I4s", data, at)
        count += length < SMALL_CHUNK_BYTES
        if kind == _END:
            break
        at += _HEAD_SIZE + length + _CRC_SIZE
    return count


def exif_chunks(data: bytes | memoryview) -> Iterator[bytes | memoryview]:
    """The data of each eXIf chunk before the image data: what Pillow reads with the header (one after
    it is read as the pixels load, and never parsed)."""
    at = _SIGNATURE_SIZE
    while at + _HEAD_SIZE <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind in (_IMAGE_DATA, _END):
            return
        if kind == _EXIF:
            yield data[at + _HEAD_SIZE : at + _HEAD_SIZE + length]
        at += _HEAD_SIZE + length + _CRC_SIZE
