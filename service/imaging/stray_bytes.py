"""Stray bytes in a header Pillow walks in Python (jpeg_header.py, gif_header.py): bytes between two
pieces it reads (markers, blocks), each of which its reader skips one step at a time."""

from __future__ import annotations

import re


def stray_bytes_before(
    piece: re.Pattern[bytes], piece_size: int, data: bytes | memoryview, at: int, steps_left: int
) -> tuple[int, re.Match[bytes] | None]:
    """The stray bytes from `at` up to the next `piece` (of `piece_size` bytes), and that piece; None
    for it when there is none within `steps_left` + 1 stray bytes. The search goes no further, so a run
    of millions of them costs no more than the steps left: without a piece, the stray bytes are those
    to the end of `data`, `steps_left` + 1 at most."""
    found = piece.search(data, at, min(len(data), at + steps_left + piece_size))
    if found is None:
        return max(0, min(len(data) - at, steps_left + 1)), None
    return found.start() - at, found
