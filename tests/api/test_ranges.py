"""service/api/ranges.py: which answer a `Range` header gets, for the cases a server test does not reach."""

from __future__ import annotations

import pytest

from service.api.ranges import RangeAnswer, answer_to

ETAG = '"abc"'


@pytest.mark.parametrize(
    ("range_header", "size", "answer"),
    [
        ("bytes=0-0", 10, RangeAnswer.RANGES),
        ("BYTES = 9-", 10, RangeAnswer.RANGES),  # the unit is case-insensitive
        ("bytes=0-4, , 5-9", 10, RangeAnswer.RANGES),  # empty list elements are allowed
        ("bytes=-3", 10, RangeAnswer.RANGES),
        ("bytes=-0", 10, RangeAnswer.UNSATISFIABLE),  # a suffix of nothing
        ("bytes=10-", 10, RangeAnswer.UNSATISFIABLE),
        ("bytes=-5", 0, RangeAnswer.UNSATISFIABLE),  # nothing in an empty file
        ("bytes=+1-5", 10, RangeAnswer.WHOLE),  # int() would take it; the grammar does not
        ("bytes=1_0-", 100, RangeAnswer.WHOLE),
        ("bytes=", 10, RangeAnswer.WHOLE),
        ("bytes", 10, RangeAnswer.WHOLE),
    ],
)
def test_answer_to_a_range(range_header: str, size: int, answer: RangeAnswer) -> None:
    assert answer_to(range_header, size, None, ETAG) is answer


def test_if_range_must_name_this_version_by_its_strong_etag() -> None:
    assert answer_to("bytes=0-1", 10, ETAG, ETAG) is RangeAnswer.RANGES
    for other in ('W/"abc"', '"older"', "Fri, 27 Nov 2026 00:59:06 GMT"):
        assert answer_to("bytes=0-1", 10, other, ETAG) is RangeAnswer.WHOLE
