"""The `Range` header of a request for a file (RFC 9110 14.1-14.2): the byte ranges to send in a 206,
the whole file, or 416. This is the one parse that decides: Starlette's FileResponse, which sends the
206, is handed these ranges (service/api/static.py). Left to its own parse, it answered a range it
cannot use with a plain-text 400 ("Only support bytes range", "start must be less than end"), where
the RFC wants the header ignored, and 416 as soon as one range of several lies past the end, where
one range in the file is enough."""

from __future__ import annotations

import re
from enum import Enum

# first-pos "-" [last-pos], or "-" suffix-length; digits only (int() would take "+5" or "1_0")
_RANGE_SPEC = re.compile(r"(\d+)-(\d*)|-(\d+)")

ByteRange = tuple[int, int]  # the first byte and one past the last, as FileResponse counts them

# More ranges than this, once merged, get the whole file: RFC 9110 14.2 lets a server ignore a set of
# many small ranges (a multipart answer of tiny parts costs more than the file); FileResponse's limit.
MAX_RANGES = 100


class RangeAnswer(Enum):
    # If-Range names another version, another unit, a malformed header, too many ranges
    WHOLE = "whole"  # 200, the whole file
    UNSATISFIABLE = "unsatisfiable"  # no range is in the file: 416


def answer_to(range_header: str, size: int, if_range: str | None, etag: str) -> list[ByteRange] | RangeAnswer:
    """The ranges to send (sorted; overlapping and adjacent ones merged, as RFC 9110 14.2 allows), or
    the answer that sends none. `if_range`, `etag`: the request's If-Range and the file's (strong) ETag."""
    if if_range is not None and if_range != etag:
        # RFC 9110 13.1.5: the file changed since the client got its part of it (or If-Range names a
        # date, which the ETag makes needless): the whole file, never a range of another version
        return RangeAnswer.WHOLE
    unit, equals, range_set = range_header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return RangeAnswer.WHOLE  # RFC 9110 14.2: a unit the server does not understand MUST be ignored
    in_file: list[ByteRange] = []
    past_the_end = False
    for part in range_set.split(","):
        spec = _RANGE_SPEC.fullmatch(part.strip())
        if spec is None:
            if part.strip():
                return RangeAnswer.WHOLE  # an invalid range set: the RFC lets the server ignore it
            continue  # empty list elements are allowed (RFC 9110 5.6.1)
        first, last, suffix = spec.groups()
        if suffix is not None:
            if int(suffix) > 0 and size > 0:
                in_file.append((max(size - int(suffix), 0), size))
            else:
                past_the_end = True
        elif last and int(last) < int(first):
            return RangeAnswer.WHOLE
        elif int(first) < size:
            in_file.append((int(first), min(int(last) + 1, size) if last else size))
        else:
            past_the_end = True  # RFC 9110 14.1.1: unsatisfiable; the others in the file are still sent
    if not in_file:
        return RangeAnswer.UNSATISFIABLE if past_the_end else RangeAnswer.WHOLE
    merged = _merged(in_file)
    return merged if len(merged) <= MAX_RANGES else RangeAnswer.WHOLE


def _merged(ranges: list[ByteRange]) -> list[ByteRange]:
    merged: list[ByteRange] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
