"""service/api/ranges.py: which answer a `Range` header gets, for the cases a server test does not reach."""

from __future__ import annotations

import pytest

from service.api.ranges import MAX_RANGES, ByteRange, RangeAnswer, answer_to

ETAG = '"abc"'


@pytest.mark.parametrize(
    ("range_header", "size", "answer"),
    [
        ("bytes=0-0", 10, [(0, 1)]),
        ("BYTES = 9-", 10, [(9, 10)]),  # the unit is case-insensitive
        ("bytes=0-99", 10, [(0, 10)]),  # a last byte past the end is the end
        ("bytes=-3", 10, [(7, 10)]),
        ("bytes=-30", 10, [(0, 10)]),  # a suffix longer than the file is all of it
        ("bytes=6-7, 0-1", 10, [(0, 2), (6, 8)]),  # sorted
        ("bytes=0-4, , 5-9", 10, [(0, 10)]),  # empty list elements are allowed; adjacent ranges merge
        ("bytes=2-5, 0-3, -1", 10, [(0, 6), (9, 10)]),  # and overlapping ones
        ("bytes=-0", 10, RangeAnswer.UNSATISFIABLE),  # a suffix of nothing
        ("bytes=10-", 10, RangeAnswer.UNSATISFIABLE),
        ("bytes=-5", 0, RangeAnswer.UNSATISFIABLE),  # nothing in an empty file
        ("bytes=0-1, 10-", 10, [(0, 2)]),  # one in the file, one past its end: the one in it
        ("bytes=+1-5", 10, RangeAnswer.WHOLE),  # int() would take it; the grammar does not
        ("bytes=1_0-", 100, RangeAnswer.WHOLE),
        ("bytes=", 10, RangeAnswer.WHOLE),
        ("bytes", 10, RangeAnswer.WHOLE),
    ],
)
def test_answer_to_a_range(range_header: str, size: int, answer: list[ByteRange] | RangeAnswer) -> None:
    assert answer_to(range_header, size, None, ETAG) == answer


def test_many_ranges_are_counted_once_merged() -> None:
    apart = ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES + 1))  # every other byte
    assert answer_to(f"bytes={apart}", 1000, None, ETAG) is RangeAnswer.WHOLE
    assert answer_to("bytes=" + ",".join(["0-0"] * (MAX_RANGES + 1)), 1000, None, ETAG) == [(0, 1)]


def test_if_range_must_name_this_version_by_its_strong_etag() -> None:
    assert answer_to("bytes=0-1", 10, ETAG, ETAG) == [(0, 2)]
    for other in ('W/"abc"', '"older"', "Fri, 27 Nov 2026 00:59:06 GMT"):
        assert answer_to("bytes=0-1", 10, other, ETAG) is RangeAnswer.WHOLE
