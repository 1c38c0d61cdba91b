"""How many IFD entries of a TIFF Pillow's reader parses in Python, one at a time (~10 us each): those
of its first IFD, three times (twice on opening, once more for its EXIF), and of the EXIF, GPS and
Interop IFDs that IFD points to (read as the pixels load). A 1.5 MB TIFF of 65,000 entries in its first
IFD and as many in its EXIF IFD held a core 2 s, 9,000 in its first IFD 250 ms; cameras, scanners and
GeoTIFFs write a few dozen an IFD. Classic TIFF and BigTIFF, either byte order, as Pillow reads them."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from PIL import TiffImagePlugin

# Tags whose value is the offset of the EXIF, GPS and Interop IFDs.
_POINTERS = {34665, 34853, 40965}
# TIFF field types of one integer, which Pillow takes for an IFD's offset: BYTE, SHORT, LONG, SBYTE,
# SSHORT, SLONG, IFD, LONG8, SLONG8, IFD8.
_INTEGERS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
_BIGTIFF = 43
_READS_OF_THE_FIRST_IFD = 3
# Before the TIFF header of EXIF in a JPEG, and as Pillow keeps a PNG's: Exif.load strips up to two
# (its own pattern, Pillow 13).
_EXIF_PREFIXES = re.compile(rb"(?:Exif\x00\x00){1,2}")


@dataclass(frozen=True)
class _Layout:
    """Where an IFD's parts are, by byte order and TIFF kind (classic or BigTIFF)."""

    order: str  # struct's: "<" or ">"
    count: str  # an IFD's entry count
    offset: str  # an offset, and an entry's value field if the value does not fit in it
    entry_size: int

    @property
    def field_size(self) -> int:
        return struct.calcsize(self.offset)


def ifd_entries(data: bytes | memoryview, most: int, first_ifd_reads: int = _READS_OF_THE_FIRST_IFD) -> int:
    """The entries Pillow parses, the first IFD's `first_ifd_reads` times, counted up to `most` + 1 at
    most: an IFD's entries are counted from its count alone, and searched for pointers to the others
    only while within `most`. 0 for a header cut short."""
    if len(data) < 16:
        return 0
    order = "<" if bytes(data[:2]) == b"II" else ">"
    big = data[2] == _BIGTIFF  # Pillow's test, in either byte order: it reads MM\0+ as a classic TIFF
    layout = _Layout(order, "Q" if big else "H", "Q" if big else "I", 20 if big else 12)
    total = 0
    first = _unpack(data, layout, layout.offset, 8 if big else 4)
    to_read = [] if first is None else [first]
    read: set[int] = set()
    while to_read and total <= most:
        at = to_read.pop()
        count = None if at in read else _unpack(data, layout, layout.count, at)
        if count is None:  # read already (a loop), or past the end
            continue
        total += count * (first_ifd_reads if not read else 1)
        read.add(at)
        if total <= most:  # so no more entries than `most` are looked at
            to_read += _pointers(data, layout, at + struct.calcsize(layout.count), count)
    return min(total, most + 1)


def exif_ifd_entries(block: bytes | memoryview, most: int, first_ifd_reads: int) -> int:
    """`ifd_entries` of an EXIF block: a TIFF header and its IFDs, after one or two "Exif\\0\\0" as
    Pillow's Exif.load takes it; 0 for one whose header Pillow refuses, before any entry."""
    prefixes = _EXIF_PREFIXES.match(block)
    tiff = memoryview(block)[prefixes.end() if prefixes else 0 :]
    return ifd_entries(tiff, most, first_ifd_reads) if bytes(tiff[:4]) in TiffImagePlugin.PREFIXES else 0


def _pointers(data: bytes | memoryview, layout: _Layout, at: int, count: int) -> list[int]:
    """The offsets of the EXIF, GPS and Interop IFDs the `count` entries from `at` give. Any IFD is
    looked in for all three: more than Pillow reads, never less."""
    found = []
    for entry in range(at, at + count * layout.entry_size, layout.entry_size):
        head = _fields(data, layout.order + "HH" + layout.offset, entry)
        if head is None:  # cut short
            break
        tag, kind, values = head
        code = _INTEGERS.get(kind)
        if tag not in _POINTERS or code is None or values != 1:
            continue
        field = entry + 4 + layout.field_size
        # a value larger than the field is stored elsewhere, at the offset the field holds
        value_at = (
            field
            if struct.calcsize(code) <= layout.field_size
            else _unpack(data, layout, layout.offset, field)
        )
        offset = None if value_at is None else _unpack(data, layout, code, value_at)
        if offset is not None:
            found.append(offset)
    return found


def _unpack(data: bytes | memoryview, layout: _Layout, code: str, at: int) -> int | None:
    fields = _fields(data, layout.order + code, at)
    return None if fields is None else int(fields[0])


def _fields(data: bytes | memoryview, fmt: str, at: int) -> tuple[int, ...] | None:
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        return None
    return tuple(struct.unpack_from(fmt, data, at))
