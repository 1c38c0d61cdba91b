"""A PNG's chunks, walked by their headers before Pillow reads them.

How many small chunks it holds (small_chunk_count). Pillow's reader takes each chunk in Python, one
at a time, with a CRC check and (text, private chunks) a copy it keeps: 10 MB of empty tEXt, private
or IDAT chunks, 870,000 of them, held a core 4-5 s before a pixel was decoded. A chunk costs it about
the same (4-10 us) whatever its type and size, so what bounds the work is how many chunks the bytes
can hold: chunks of 1 KiB or more are bounded by the upload's size (10 MiB of 1 KiB image data
chunks, 10,000 of them, took 70 ms, against 13 ms in 1 MiB chunks), small ones are counted. Encoders
split the image data in chunks of 8-64 KB (libpng 8 KB), some in 1 KiB ones, the last one of each
image or frame smaller; besides them they write a handful of small chunks, an APNG two a frame.

Its ancillary chunks whose CRC is wrong (without_damaged_ancillary_chunks): Pillow refuses the file,
where libpng and browsers drop such a chunk and show the picture (chromium 156: a damaged tEXt's
picture as stored, a damaged tRNS's opaque). The page runs the model on what its browser decodes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

_SIGNATURE_SIZE = 8
# A chunk: its data's length and its type (8 bytes), the data, a CRC (4 bytes).
_HEAD_SIZE = 8
_CRC_SIZE = 4
_END = b"IEND"
_IMAGE_DATA = b"IDAT"
_EXIF = b"eXIf"
# In a chunk type's first letter: lowercase (this bit set) for an ancillary chunk, one a decoder may
# drop (text, tRNS, gAMA, eXIf, an APNG's frame chunks...), uppercase for a critical one.
_ANCILLARY = 0x20
# A chunk whose data is shorter is a small one.
SMALL_CHUNK_BYTES = 1024


def _chunks(data: bytes | memoryview) -> Iterator[tuple[int, int, bytes]]:
    """Each chunk's offset, data length and type, up to IEND (included) or the end of `data`."""
    at = _SIGNATURE_SIZE
    end = len(data)
    while at + _HEAD_SIZE <= end:
        length, kind = struct.unpack_from(">I4s", data, at)
        yield at, length, kind
        if kind == _END:
            return
        at += _HEAD_SIZE + length + _CRC_SIZE


def _header_chunks(data: bytes | memoryview) -> Iterator[tuple[int, int, bytes]]:
    """The chunks before the image data: those Pillow reads on opening the file, the only ones whose
    CRC it checks (it reads the CRCs of later chunks, an APNG's frames among them, and ignores them)."""
    for chunk in _chunks(data):
        if chunk[2] in (_IMAGE_DATA, _END):
            return
        yield chunk


def small_chunk_count(data: bytes | memoryview, most: int) -> int:
    """The chunks of under SMALL_CHUNK_BYTES up to IEND or the end of `data`, counted up to `most` + 1 at
    most: the walk stops there, so a file of millions of chunks costs no more to count than `most` and
    the larger ones its bytes hold. All of them, not only those before the image data: Pillow reads
    text after it too, and an APNG's frame it shows."""
    count = 0
    for _, length, _ in _chunks(data):
        count += length < SMALL_CHUNK_BYTES
        if count > most:
            break
    return count


def exif_chunks(data: bytes | memoryview) -> Iterator[bytes | memoryview]:
    """The data of each eXIf chunk before the image data: what Pillow reads with the header (one after
    it is read as the pixels load, and never parsed). Their CRCs are not checked: decode.py asks this of
    the data without_damaged_ancillary_chunks gives, which judged each one's (an eXIf may be as large as
    the upload, and its CRC was computed twice)."""
    for at, length, kind in _header_chunks(data):
        if kind == _EXIF:
            yield data[at + _HEAD_SIZE : at + _HEAD_SIZE + length]


def without_damaged_ancillary_chunks(data: bytes | memoryview) -> bytes | memoryview:
    """`data` without its ancillary chunks before the image data whose CRC does not match their type and
    data, as browsers read it; `data` itself, not a copy, when there are none. Later chunks' CRCs Pillow
    ignores: dropping one there could only take an APNG's frame away. Critical chunks are left to
    Pillow, which refuses a damaged IHDR or PLTE and ignores the CRCs of IDAT and IEND, as chromium
    does."""
    damaged = [
        (at, at + _HEAD_SIZE + length + _CRC_SIZE)
        for at, length, kind in _header_chunks(data)
        if kind[0] & _ANCILLARY and _damaged(data, at, length)
    ]
    if not damaged:
        return data
    view = memoryview(data)
    kept, start = [], 0
    for begin, after in damaged:
        kept.append(view[start:begin])
        start = after
    kept.append(view[start:])
    return b"".join(kept)


def _damaged(data: bytes | memoryview, at: int, length: int) -> bool:
    """Whether the chunk at `at`, whole in `data`, has a CRC that does not match its type and data."""
    after = at + _HEAD_SIZE + length + _CRC_SIZE
    if after > len(data):  # cut short: Pillow's to judge
        return False
    (crc,) = struct.unpack_from(">I", data, after - _CRC_SIZE)
    return zlib.crc32(memoryview(data)[at + 4 : after - _CRC_SIZE]) != crc
