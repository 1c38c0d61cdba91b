"""An AVIF's brands and EXIF items, found in its ISOBMFF boxes (ISO/IEC 14496-12, and 23008-12 for the
items): the ftyp box, the file's first, names its brands; the meta box lists each item in an infe entry
of its iinf box, with the item's type."""

from __future__ import annotations

import itertools
import operator
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# What an item that no reader knows is named: readers skip items of types they do not read.
_UNKNOWN_ITEM_TYPE = b"xxxx"
# The brands that make a file an AVIF picture (still, sequence) when its ftyp box names them, as its
# major brand or among its compatible ones (AV1 Image File Format, 8.2): a major brand of mif1 or msf1,
# the HEIF structural brands, is as legal, and so is a file that lists avif after other brands.
_AVIF_BRANDS = (b"avif", b"avis")
# How many compatible brands are looked at: encoders write 4-8; the box's size is the file's to claim.
_MOST_BRANDS = 64
# A walk stops after this many boxes of one level. A file has a handful at its top and in its meta
# box, and an infe entry an item (a grid picture's tiles among them); 10 MB of empty boxes, 1.3
# million, took a core 1 s to walk in Python, after the decoder had refused the file.
_MOST_BOXES = 10_000
# The EXIF items read: a writer makes one. Each may be as large as the upload (see exif_payloads), so
# their number bounds the bytes gathered; decode.py refuses a file of more (a flood of them).
MOST_EXIF_ITEMS = 16


def is_avif(data: bytes | memoryview) -> bool:
    """Whether `data` begins with an ftyp box (a file's first, ISO/IEC 14496-12 4.3) that names an AVIF
    brand, major or compatible; of a box cut short, the brands there are."""
    if len(data) < 8 or bytes(data[4:8]) != b"ftyp":
        return False
    (size,) = struct.unpack_from(">I", data)
    content = 8
    if size == 1:  # a 64-bit size follows the type
        if len(data) < 16:
            return False
        (size,) = struct.unpack_from(">Q", data, 8)
        content = 16
    # the major brand, a minor version, then the compatible brands, 4 bytes each; size 0: to the end
    end = min(len(data), content + 8 + 4 * _MOST_BRANDS, size or len(data))
    starts = (content, *range(content + 8, end, 4))
    return any(bytes(data[at : at + 4]) in _AVIF_BRANDS for at in starts if at + 4 <= end)


def without_exif(data: bytes | memoryview) -> bytes | None:
    """`data` with its EXIF items renamed to a type no reader reads, so that the picture opens without
    them; None if `data` names no EXIF item (or is no AVIF)."""
    starts = list(_exif_item_types(data))
    if not starts:  # no copy of an upload (up to 10 MB) that has nothing to rename
        return None
    # one copy: the pieces between the types are views, joined once (a bytearray, then bytes of it,
    # were two, both held at once)
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    kept_from = 0
    for start in starts:
        pieces += (view[kept_from:start], _UNKNOWN_ITEM_TYPE)
        kept_from = start + len(_UNKNOWN_ITEM_TYPE)
    pieces.append(view[kept_from:])
    return b"".join(pieces)


@dataclass(frozen=True)
class ExifItems:
    """The EXIF items a file names, found by one walk of its meta box's item list (iinf, up to 10,000
    entries to step through in Python): one walk serves both of decode.py's checks, the count and the
    payloads."""

    meta: tuple[int, int] | None  # where the meta box's content begins and ends
    ids: tuple[int, ...]  # of the first MOST_EXIF_ITEMS + 1 at most: enough to tell a file of more

    @property
    def count(self) -> int:
        """How many EXIF items the file names, counted up to MOST_EXIF_ITEMS + 1 at most."""
        return len(self.ids)


def exif_items(data: bytes | memoryview) -> ExifItems:
    """The EXIF items `data` names (none if it is no AVIF), for `exif_payloads`."""
    meta = _meta(data)
    entries = itertools.islice(_exif_entries(data, meta), MOST_EXIF_ITEMS + 1)
    return ExifItems(meta, tuple(item_id for _, item_id in entries))


def exif_payloads(data: bytes | memoryview, items: ExifItems | None = None) -> Iterator[memoryview]:
    """The EXIF of each of the first MOST_EXIF_ITEMS EXIF items as libavif hands it to Pillow: the
    item's bytes past their first four (the offset of the TIFF header, ISO/IEC 23008-12 A.2.1). Items
    stored in the file or in the meta box's idat box; an extent past the end of `data` gives what is
    there. An item is read up to the size of `data`: libavif refuses one whose extents add up to more
    (its size hint check), and extents may repeat the file (fields of 0 bytes, "to the end", cost
    nothing to write). Each item's is given as soon as its extents are read (iloc lists an item's
    together): one at a time is held, not every item's, each as large as the upload. `items`: those of
    `data` when they were found already (`exif_items`), else they are found here."""
    items = exif_items(data) if items is None else items
    meta = items.meta
    wanted = set(items.ids[:MOST_EXIF_ITEMS])
    if meta is None or not wanted:
        return
    idat = next(_boxes(data, b"idat", meta[0] + 4, meta[1]), (len(data), len(data)))
    iloc = next(_boxes(data, b"iloc", meta[0] + 4, meta[1]), None)
    if iloc is None:
        return
    view = memoryview(data)  # its slices are appended, not copied first
    for _, extents in itertools.groupby(_extents(data, *iloc, wanted), key=operator.itemgetter(0)):
        payload = bytearray()
        for _, method, at, length in extents:
            base = {0: 0, 1: idat[0]}.get(method)  # 2, in another item: no writer stores EXIF so
            if base is not None:
                end = len(data) if length == 0 else base + at + length
                payload += view[base + at : min(end, base + at + len(data) - len(payload))]
        yield memoryview(payload)[4:]


def _extents(
    data: bytes | memoryview, start: int, end: int, wanted: set[int]
) -> Iterator[tuple[int, int, int, int]]:
    """(item ID, construction method, offset, length) of each extent of the `wanted` items the iloc box
    in data[start:end] lists (ISO/IEC 14496-12 8.11.3); its walk stops at the box's end, once every
    wanted item is found, or after `_MOST_BOXES` items or extents looked at (an extent of 0-byte fields
    takes no room: 65,535 of them an item cost nothing to write)."""
    extents_left = _MOST_BOXES
    if start + 8 > end:
        return
    version = data[start]
    sizes = data[start + 4] >> 4, data[start + 4] & 15, data[start + 5] >> 4, data[start + 5] & 15
    offset_size, length_size, base_size, index_size = sizes if version in (1, 2) else (*sizes[:3], 0)
    id_size = 4 if version == 2 else 2
    at = start + 6
    count = _number(data, at, id_size, end)
    at += id_size
    for _ in range(min(count or 0, _MOST_BOXES)):
        if not wanted:
            return
        item_id = _number(data, at, id_size, end)
        at += id_size
        method = (_number(data, at, 2, end) or 0) & 15 if version in (1, 2) else 0
        at += 2 if version in (1, 2) else 0
        base = _number(data, at + 2, base_size, end)  # past the data reference index
        at += 2 + base_size
        extent_count = _number(data, at, 2, end)
        at += 2
        if item_id is None or base is None or extent_count is None:
            return
        if item_id not in wanted:  # skipped whole
            at += extent_count * (index_size + offset_size + length_size)
            continue
        for _ in range(extent_count):
            extents_left -= 1
            if extents_left < 0:
                return
            at += index_size
            offset, length = (
                _number(data, at, offset_size, end),
                _number(data, at + offset_size, length_size, end),
            )
            at += offset_size + length_size
            if offset is None or length is None:
                return
            yield item_id, method, base + offset, length
        wanted.discard(item_id)


def _number(data: bytes | memoryview, at: int, size: int, end: int) -> int | None:
    """The big-endian number of `size` bytes at `at` (iloc's sizes: 0, 4 or 8), None past `end`."""
    if at + size > end:
        return None
    return int.from_bytes(data[at : at + size], "big")


def _meta(data: bytes | memoryview) -> tuple[int, int] | None:
    """Where the file's meta box's content begins and ends (a file has one, ISO/IEC 14496-12)."""
    return next(_boxes(data, b"meta", 0, len(data)), None)


def _exif_item_types(data: bytes | memoryview) -> Iterator[int]:
    """Where the type of each EXIF item is written."""
    return (item_type for item_type, _ in _exif_entries(data, _meta(data)))


def _exif_entries(data: bytes | memoryview, meta: tuple[int, int] | None) -> Iterator[tuple[int, int]]:
    """Where the type of each EXIF item is written, and the item's ID. A meta box has one iinf box
    (ISO/IEC 14496-12): the first is read, so the walk is bounded by two of `_boxes`."""
    if meta is None:
        return
    iinf = next(_boxes(data, b"iinf", meta[0] + 4, meta[1]), None)  # past meta's version, flags
    if iinf is None or iinf[0] >= iinf[1]:  # none, or no version to read
        return
    start, end = iinf
    entry_count_size = 2 if data[start] == 0 else 4  # by iinf's version
    for entry, entry_end in _boxes(data, b"infe", start + 4 + entry_count_size, end):
        if entry + 8 > entry_end:  # too short for the fields before an item type
            continue
        version = data[entry]
        id_size = 2 if version == 2 else 4
        # past version, flags, item ID and protection index; no item type before version 2
        item_type = entry + 4 + id_size + 2
        if version >= 2 and data[item_type : min(item_type + 4, entry_end)] == b"Exif":
            yield item_type, int.from_bytes(data[entry + 4 : entry + 4 + id_size], "big")


def _boxes(data: bytes | memoryview, kind: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Where the content of each box of type `kind` in data[start:end] begins and ends; a box that
    claims more than is there ends the walk, and so do `_MOST_BOXES` boxes."""
    for _ in range(_MOST_BOXES):
        if start + 8 > end:
            return
        size, box_kind = struct.unpack_from(">I4s", data, start)
        content = start + 8
        if size == 1:  # a 64-bit size follows the type
            if content + 8 > end:
                return
            (size,) = struct.unpack_from(">Q", data, content)
            content += 8
        elif size == 0:  # to the end
            size = end - start
        if size < content - start or start + size > end:
            return
        if box_kind == kind:
            yield content, start + size
        start += size
