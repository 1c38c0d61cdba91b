from __future__ import annotations

import re

from service.imaging.stray_bytes import stray_bytes_before

MARKER = re.compile(rb"\xff[^\x00\xff]")  # a 2-byte piece, as a JPEG marker


def test_the_bytes_before_the_next_piece_are_stray() -> None:
    stray, piece = stray_bytes_before(MARKER, 2, b"ab\x00\xff\x00\xff\xfe--", 2, 100)
    assert stray == 3 and piece is not None and piece.start() == 5
    assert stray_bytes_before(MARKER, 2, b"\xff\xfe", 0, 0)[0] == 0  # right here: none stray


def test_a_piece_past_the_steps_left_is_not_looked_for() -> None:
    """Each stray byte is a step: a piece after more than `steps_left` of them is never reached, and
    the search stops there, counting one past the steps left."""
    data = b"\x00" * 10 + b"\xff\xfe"
    assert stray_bytes_before(MARKER, 2, data, 0, 10)[1] is not None
    assert stray_bytes_before(MARKER, 2, data, 0, 9) == (10, None)
    assert stray_bytes_before(MARKER, 2, b"\x00" * 1_000_000, 0, 5) == (6, None)


def test_without_a_piece_the_bytes_to_the_end_are_stray() -> None:
    assert stray_bytes_before(MARKER, 2, b"\x00" * 5 + b"\xff", 0, 100) == (6, None)
    assert stray_bytes_before(MARKER, 2, b"\x00" * 5, 9, 100) == (0, None)  # a length past the end
