"""The `Range` header of a request for a file (RFC 9110 14.1-14.2): whether to answer with the ranges
(Starlette's FileResponse sends the 206), the whole file, or 416. Starlette itself answers a range it
cannot use with a plain-text 400 ("Only support bytes range", "start must be less than end"), where
the RFC wants the header ignored, and 416 as soon as one range of several lies past the end, where
one range in the file is enough."""

from __future__ import annotations

import re
from enum import Enum

# first-pos "-" [last-pos], or "-" suffix-length; digits only (int() would take "+5" or "1_0")
_RANGE_SPEC = re.compile(r"(\d+)-(\d*)|-(\d+)")


class RangeAnswer(Enum):
    RANGES = "ranges"  # every range is in the file: 206
    # If-Range names another version, another unit, a malformed header, ranges partly past the end
    WHOLE = "whole"  # 200, the whole file
    UNSATISFIABLE = "unsatisfiable"  # no range is in the file: 416


def answer_to(range_header: str, size: int, if_range: str | None, etag: str) -> RangeAnswer:
    """`if_range`, `etag`: the request's If-Range and the file's (strong) ETag."""
    if if_range is not None and if_range != etag:
        # RFC 9110 13.1.5: the file changed since the client got its part of it (or If-Range names a
        # date, which the ETag makes needless): the whole file, never a range of another version
        return RangeAnswer.WHOLE
    unit, equals, range_set = range_header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return RangeAnswer.WHOLE  # RFC 9110 14.2: a unit the server does not understand MUST be ignored
    in_file: list[bool] = []
    for part in range_set.split(","):
        spec = _RANGE_SPEC.fullmatch(part.strip())
        if spec is None:
            if part.strip():
                return RangeAnswer.WHOLE  # an invalid range set: the RFC lets the server ignore it
            continue  # empty list elements are allowed (RFC 9110 5.6.1)
        first, last, suffix = spec.groups()
        if suffix is not None:
            in_file.append(int(suffix) > 0 and size > 0)
        elif last and int(last) < int(first):
            return RangeAnswer.WHOLE
        else:
            in_file.append(int(first) < size)
    if not in_file:
        return RangeAnswer.WHOLE
    if not any(in_file):
        return RangeAnswer.UNSATISFIABLE
    # some ranges in the file, some not: the RFC's answer would be the ones in it, which FileResponse
    # cannot send (416 for all); the whole file is the other answer the RFC allows
    return RangeAnswer.RANGES if all(in_file) else RangeAnswer.WHOLE
