from __future__ import annotations

import io
import struct
from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.imaging import avif
from service.imaging.avif import MOST_EXIF_ITEMS, exif_payloads, is_avif, without_exif
from tests.allocations import peak_allocation
from tests.pictures import avif_exif_item, encoded, exif_of_entries, isobmff_box, with_major_brand


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


def test_an_exif_items_payload_is_the_exif_libavif_gives_pillow() -> None:
    """Past the item's 4-byte offset of its TIFF header; Pillow's writer stores it in the file (iloc
    version 0), and the payload need not be the first item's bytes."""
    data = with_exif()
    assert list(exif_payloads(data)) == [Image.open(io.BytesIO(data)).info["exif"]]
    flood = exif_of_entries(3_000)
    assert list(exif_payloads(encoded(Image.new("RGB", (16, 8)), "AVIF", exif=flood))) == [flood]
    assert list(exif_payloads(encoded(Image.new("RGB", (16, 8)), "AVIF"))) == []


def ftyp(major: bytes, *compatible: bytes, size: int | None = None) -> bytes:
    """An ftyp box: major brand, minor version 0, compatible brands; `size` as the box claims it."""
    content = major + bytes(4) + b"".join(compatible)
    return struct.pack(">I4s", 8 + len(content) if size is None else size, b"ftyp") + content


@pytest.mark.parametrize(
    "head",
    [
        ftyp(b"avif", b"mif1"),
        ftyp(b"mif1", b"miaf", b"avif"),  # HEIF's structural brand first: legal, libheif writes it
        ftyp(b"msf1", b"avis"),
        ftyp(b"MA1B", b"avif", b"mif1"),
        ftyp(b"mif1", b"miaf", b"avif")[:24],  # cut short after the brand
        ftyp(b"mif1", b"avif", size=0),  # to the end of the file
        struct.pack(">I4sQ", 1, b"ftyp", 28) + b"mif1" + bytes(4) + b"avif",  # a 64-bit size
    ],
)
def test_an_avif_is_known_by_its_major_or_a_compatible_brand(head: bytes) -> None:
    assert is_avif(head + isobmff_box(b"meta", b""))


@pytest.mark.parametrize(
    "head",
    [
        ftyp(b"heic", b"mif1", b"heic"),  # HEIF's own pictures: not a format of the service
        ftyp(b"mif1", b"heic"),
        ftyp(b"mif1", b"miaf") + b"avif",  # avif after the box, not in it
        ftyp(b"mif1", b"miaf", b"avif", size=20),  # nor past the size it claims
        ftyp(b"mif1", *[b"miaf"] * 64, b"avif"),  # nor past 64 compatible brands
        isobmff_box(b"free", b"") + ftyp(b"avif"),  # ftyp is a file's first box
        b"\x00\x00\x00\x10ftyp",
        b"",
    ],
)
def test_other_files_are_not_avifs(head: bytes) -> None:
    assert not is_avif(head)


def test_an_avif_with_another_major_brand_is_one() -> None:
    data = encoded(Image.new("RGB", (16, 8)), "AVIF")
    assert is_avif(data) and is_avif(with_major_brand(data, b"mif1"))


def test_a_renamed_copy_is_made_once() -> None:
    """without_exif made a bytearray of the upload (up to 10 MB), then bytes of that: two copies, held at
    once. Here 10 MB of free boxes follow the picture."""
    data = with_exif() + isobmff_box(b"free", bytes(10 << 20))
    with peak_allocation() as peak:
        renamed = without_exif(data)
    assert renamed is not None and len(renamed) == len(data) and renamed != data
    assert peak.bytes < len(data) * 1.1


def test_a_file_without_exif_items_is_none() -> None:
    picture = Image.new("RGB", (16, 8))
    assert without_exif(encoded(picture, "AVIF")) is None
    assert without_exif(encoded(picture, "PNG")) is None
    assert without_exif(b"") is None


def test_a_damaged_avif_without_exif_items_is_none_and_not_copied() -> None:
    """without_exif runs on uploads (up to 10 MB) that failed to open; it copied each whole before
    looking for an EXIF item to rename. The damage here: 10 MB of zeros after the picture."""
    data = encoded(Image.new("RGB", (16, 8)), "AVIF") + bytes(10 << 20)
    with peak_allocation() as peak:
        assert without_exif(data) is None
        assert without_exif(memoryview(data)) is None
    assert peak.bytes < len(data) // 10


def test_the_walk_stops_after_more_boxes_than_a_file_holds() -> None:
    """10 MB of empty boxes (1.3 million) took a core 1 s to walk; a meta box after 10,000 boxes (ftyp
    and the free ones) is not looked for, the 10,000th still is."""
    data = with_exif()
    after_ftyp = struct.unpack_from(">I", data)[0]
    for boxes, found in ((9_998, True), (9_999, False)):
        padded = data[:after_ftyp] + isobmff_box(b"free", b"") * boxes + data[after_ftyp:]
        assert (without_exif(padded) is not None) is found


VERSION_AND_FLAGS = bytes(4)
# An iinf (version 0: a 2-byte entry count) or an infe box with no content, at the end of the data.
EMPTY_IINF_AT_THE_END = isobmff_box(b"meta", VERSION_AND_FLAGS + isobmff_box(b"iinf", b""))
EMPTY_INFE_AT_THE_END = isobmff_box(
    b"meta", VERSION_AND_FLAGS + isobmff_box(b"iinf", VERSION_AND_FLAGS + b"\0\1" + isobmff_box(b"infe", b""))
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """An AVIF with an EXIF item, cut short and with bytes flipped."""
    data = bytearray(with_exif()[: draw(st.integers(0, 2_000))])
    for at, flip in draw(st.lists(st.tuples(st.integers(0, 2_000), st.integers(1, 255)))):
        if at < len(data):
            data[at] ^= flip
    return bytes(data)


@settings(max_examples=300, derandomize=True)
@given(data=damaged())
@example(data=EMPTY_IINF_AT_THE_END)
@example(data=EMPTY_INFE_AT_THE_END)
def test_a_damaged_container_gives_bytes_of_its_length_or_none(data: bytes) -> None:
    """Box sizes that claim more than the file holds, or less than their own header, end the walk; a
    box too short for the fields read from it is skipped (an empty iinf or infe box at the end of the
    data read past it: IndexError)."""
    renamed = without_exif(data)
    assert renamed is None or len(renamed) == len(data)
    assert all(len(payload) <= len(data) for payload in exif_payloads(data))


@st.composite
def exif_items(draw: st.DrawFn) -> bytes:
    """An EXIF item of extents of any field size (0 bytes: "offset 0, to the end"), repeated up to 3,000
    times, in the file or in an idat box, with up to 2 KB after it."""
    field_size = draw(st.sampled_from([0, 1, 2, 4]))
    value = st.integers(0, (1 << 8 * field_size) - 1)
    extents = draw(st.lists(st.tuples(value, value), min_size=1, max_size=4)) * draw(st.integers(1, 3_000))
    idat = draw(st.none() | st.binary(max_size=64))
    return avif_exif_item(extents, field_size, idat, after=bytes(draw(st.integers(0, 2_000))))


@settings(max_examples=100, derandomize=True)
@given(data=exif_items())
def test_an_exif_items_payload_is_no_larger_than_the_file(data: bytes) -> None:
    """libavif refuses an item whose extents add up to more than the file: extents that repeat the file
    (of 0-byte fields, to the end of the file: 10,000 of them in a 100 KB file made 1 GB) are read up
    to the file's size."""
    assert all(len(payload) <= len(data) for payload in exif_payloads(data))


def test_exif_items_are_given_one_at_a_time_and_the_first_few_only() -> None:
    """Each item may be as large as the upload (extents that repeat the file): all of 1,000 such items
    were held at once, 1,000 times the upload. They are given one at a time now, the first
    MOST_EXIF_ITEMS only, and counted for decode.py to refuse a file of more."""
    data = avif_exif_item([(0, 0)], field_size=0, after=bytes(20_000), items=1_000)
    assert avif.exif_items(data).count == MOST_EXIF_ITEMS + 1
    assert avif.exif_items(avif_exif_item([(0, 0)], field_size=0, items=3)).count == 3
    with peak_allocation() as peak:
        sizes = [len(payload) for payload in exif_payloads(data)]
    assert sizes == [len(data) - 4] * MOST_EXIF_ITEMS
    assert peak.bytes < 2.5 * len(data)


def test_an_exif_item_in_the_meta_boxs_idat_box_in_two_extents_is_read() -> None:
    exif = exif_of_entries(3)
    payload = bytes(4) + exif  # the TIFF header's offset, then the EXIF
    data = avif_exif_item([(3, 10), (13, len(payload) - 10)], idat=b"abc" + payload)  # past 3 bytes of others
    assert list(exif_payloads(data)) == [exif]


def test_an_exif_items_payload_is_gathered_once_and_not_copied() -> None:
    """An item's bytes are as many as the upload's (up to 10 MB): each extent was copied before it was
    appended, and the payload past the 4-byte offset twice more, the last three held at once."""
    payload = bytes(4) + bytes(range(256)) * 4096  # 1 MB
    data = avif_exif_item([(0, len(payload))], idat=payload)
    with peak_allocation() as peak:
        (read,) = exif_payloads(data)
    assert read == payload[4:]
    assert peak.bytes < len(payload) * 1.5


def test_the_extents_read_stop_after_more_than_a_file_holds() -> None:
    """An extent's fields may take no bytes at all (sizes of 0), so that 65,535 of them an item cost
    nothing to write; here 20,000 of one byte each: the first 10,000 are read. Of 0-byte fields, each
    is the whole file (offset 0, to the end): read up to the file's size, as libavif would."""
    payload = bytes(range(256)) * 80
    (read,) = exif_payloads(avif_exif_item([(at, 1) for at in range(20_000)], idat=payload))
    assert read == payload[4:10_000]
    whole_files = avif_exif_item([(0, 0)] * 5_000, field_size=0, after=bytes(100_000))
    (read,) = exif_payloads(whole_files)
    assert read == whole_files[4:]
