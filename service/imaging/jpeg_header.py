"""How many steps a JPEG's header takes Pillow's reader, which walks it in Python up to the first scan:
one a marker, and one each stray byte between markers (libjpeg skips those with a warning). 10 MB of
empty APP1 segments held a core 9.5 s and 331 MB (each kept in the image's `applist`), of stray bytes
about as long; encoders write a few dozen markers and no stray bytes."""

from __future__ import annotations

import re
import struct

from service.imaging.stray_bytes import stray_bytes_before

# The next marker's last 0xFF and its code (neither 0x00, a stuffed 0xFF, nor 0xFF); fill bytes (0xFF)
# before it count as stray ones do. No `\xff\xff*` or `\xff+`: on a run of 0xFF with no code after it
# re tried the whole run again from each of its bytes, quadratic (80 KB of 0xFF: 54 s).
_MARKER = re.compile(rb"\xff[^\x00\xff]")
_MARKER_SIZE = 2
_START_OF_SCAN = 0xDA
# What cannot follow a marker's 0xFF as its code: a stuffed 0x00, or a fill byte.
_NO_CODE = (0x00, 0xFF)
# Codes that Pillow reads with no length and segment after them: JPG, RST0..7, SOI, EOI, JPG0..13.
_STANDALONE = {0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)}


def header_steps(data: bytes | memoryview, most: int) -> int:
    """The steps before the first start of scan (or the end), counted up to `most` + 1 at most: the
    walk stops there, so a header of millions of segments costs no more to count than `most`."""
    steps = 0
    at = 2  # past the start of image
    end = len(data)
    while steps <= most:
        if at + 1 < end and data[at] == 0xFF and data[at + 1] not in _NO_CODE:
            # the marker right here, as encoders write them: no search (under half the time)
            steps += 1
            at += 2
        else:
            stray, marker = stray_bytes_before(_MARKER, _MARKER_SIZE, data, at, most - steps)
            steps += stray  # stray and fill bytes
            if marker is None:
                return steps
            steps += 1  # then the marker
            at = marker.end()
        code = data[at - 1]
        if code == _START_OF_SCAN:
            break
        if code not in _STANDALONE:
            if at + 2 > end:  # cut short in the segment's length
                break
            at += struct.unpack_from(">H", data, at)[0]  # the length counts its own two bytes
    return steps
