from __future__ import annotations

import struct
from typing import NamedTuple

import pytest
from PIL import Image

from service.imaging.tiff_header import exif_ifd_entries, ifd_entries
from tests.pictures import encoded, exif_of_entries, tiff_with_private_tags

EXIF, GPS, INTEROP = 34665, 34853, 40965
SHORT, LONG, LONG8 = 3, 4, 16


class To(NamedTuple):
    """An entry's value: the offset of the IFD of this index."""

    ifd: int


Entry = tuple[int, int, "int | To"]  # tag, type, value (one, inline)


def tiff(ifds: list[list[Entry]], order: str = "<", big: bool = False) -> bytes:
    """A TIFF header, then `ifds` one after another (the first, the one the header names, first)."""
    count, offset, entry_size = ("Q", "Q", 20) if big else ("H", "I", 12)
    header = (b"II" if order == "<" else b"MM") + struct.pack(order + "H", 43 if big else 42)
    header += struct.pack(order + "HHQ", 8, 0, 16) if big else struct.pack(order + "I", 8)
    starts = [len(header)]
    for entries in ifds[:-1]:
        starts.append(
            starts[-1] + struct.calcsize(count) + entry_size * len(entries) + struct.calcsize(offset)
        )
    out = [header]
    for entries in ifds:
        out.append(struct.pack(order + count, len(entries)))
        for tag, kind, value in entries:
            number = starts[value.ifd] if isinstance(value, To) else value
            code = {SHORT: "H", LONG: "I", LONG8: "Q"}[kind]
            field = struct.pack(order + code, number).ljust(struct.calcsize(offset), b"\0")
            out.append(struct.pack(order + "HH" + offset, tag, kind, 1) + field)
        out.append(bytes(struct.calcsize(offset)))  # no next IFD
    return b"".join(out)


def plain(n: int) -> list[Entry]:
    """`n` entries of private tags (the same ones again past 15,000)."""
    return [(50_000 + i % 15_000, SHORT, 1) for i in range(n)]


def test_pillows_tiff_takes_its_first_ifds_entries_three_times() -> None:
    """Pillow parses the first IFD twice on opening and once more for its EXIF."""
    data = encoded(Image.new("RGB", (8, 8)), "TIFF")
    first_ifd = struct.unpack_from("<I", data, 4)[0]
    assert ifd_entries(data, 1_000) == 3 * struct.unpack_from("<H", data, first_ifd)[0]


def test_private_tags_pillow_writes_are_counted() -> None:
    picture = Image.new("RGB", (8, 8))
    assert (
        ifd_entries(tiff_with_private_tags(picture, 100), 10_000)
        == ifd_entries(encoded(picture, "TIFF"), 100) + 300
    )


@pytest.mark.parametrize(("order", "big"), [("<", False), (">", False), ("<", True)])
def test_the_exif_gps_and_interop_ifds_count_once(order: str, big: bool) -> None:
    """Pillow reads them as the pixels load: the EXIF IFD, the GPS IFD, and the Interop IFD the EXIF
    one names; in either byte order, in a classic TIFF or a (little-endian) BigTIFF."""
    ifds = [
        [*plain(2), (EXIF, LONG, To(1)), (GPS, SHORT, To(2))],  # an offset in a SHORT is followed too
        [*plain(5), (INTEROP, LONG, To(3))],
        plain(7),
        plain(11),
    ]
    assert ifd_entries(tiff(ifds, order, big), 1_000) == 3 * 4 + 6 + 7 + 11


def test_a_big_endian_bigtiff_is_walked_as_pillow_reads_it() -> None:
    """Pillow takes a TIFF for a BigTIFF by its third byte, 0 in MM\\0+: it reads one as a classic
    TIFF, its first IFD's offset in bytes 4-8, and so does the walk (as a BigTIFF, none)."""
    classic = tiff([plain(3), plain(3_000)], ">")
    second_ifd = len(tiff([plain(3)], ">"))
    data = b"MM\x00+" + struct.pack(">I", second_ifd) + classic[8:]  # the first IFD: the second one
    assert ifd_entries(data, 10_000) == 3 * 3_000


def test_an_ifd_named_twice_counts_once() -> None:
    """An EXIF IFD that names the first one as its Interop IFD, and itself as the GPS one: no loop."""
    ifds = [[*plain(1), (EXIF, LONG, To(1))], [(INTEROP, LONG, To(0)), (GPS, LONG, To(1))]]
    assert ifd_entries(tiff(ifds), 1_000) == 3 * 2 + 2


def test_other_ifds_are_not_counted() -> None:
    """A next IFD (a second page) and the IFDs other tags name: Pillow does not read them as it decodes."""
    ifds = [[*plain(1), (330, LONG, To(1))], plain(100)]  # SubIFDs
    assert ifd_entries(tiff(ifds), 1_000) == 3 * 2


def test_the_count_stops_past_most() -> None:
    """From an IFD's count alone: its entries are not read, nor the IFDs they name."""
    ifds = [[*plain(60_000), (EXIF, LONG, To(1))], plain(60_000)]
    assert ifd_entries(tiff(ifds), most=10) == 11
    assert ifd_entries(tiff([[*plain(3), (EXIF, LONG, To(1))], plain(60_000)]), most=100) == 101


def test_offsets_past_the_end_and_headers_cut_short_count_what_is_there() -> None:
    data = tiff([[*plain(2), (EXIF, LONG, To(1))], plain(5)])
    assert ifd_entries(data, 100) == 3 * 3 + 5
    exif_ifd = 8 + 2 + 3 * 12 + 4
    assert ifd_entries(data[: exif_ifd + 2], 100) == 3 * 3 + 5  # its entries cut short: as many as it says
    assert ifd_entries(data[: exif_ifd + 1], 100) == 3 * 3  # its count cut short
    assert ifd_entries(data[:12], 100) == 0
    assert ifd_entries(b"II*\x00" + struct.pack("<I", 1 << 30) + bytes(8), 100) == 0


def test_an_exif_blocks_entries_are_counted_past_its_prefixes_as_pillow_strips_them() -> None:
    block = exif_of_entries(40)  # "Exif\0\0", then the TIFF header
    prefix = b"Exif\x00\x00"
    for prefixes in (0, 1, 2):
        assert exif_ifd_entries(prefix * prefixes + block[len(prefix) :], 100, first_ifd_reads=1) == 40
    assert exif_ifd_entries(block, 100, first_ifd_reads=2) == 80
    assert exif_ifd_entries(prefix * 2 + block, 100, first_ifd_reads=1) == 0  # Pillow strips two at most
    assert exif_ifd_entries(b"Exig" + block[4:], 100, first_ifd_reads=1) == 0  # no TIFF header
    assert exif_ifd_entries(b"", 100, first_ifd_reads=1) == 0
