"""How many steps a GIF's header takes Pillow's reader, which walks it in Python up to the first image:
one an extension block, one each of its sub-blocks (the empty one that ends them too), and one each stray
byte between blocks. 10 MB of empty comment blocks held a core ~2 s (each comment kept), of 1-byte
sub-blocks or stray bytes about as long. Pillow reads no further than the first image's descriptor, so
an animation's later frames and their extensions are not counted: before it, encoders write a few blocks
(a loop count, a frame's graphic control, a comment, XMP), their sub-blocks 255 bytes long but XMP's, a
step every ~70 bytes of its text."""

from __future__ import annotations

import re

from service.imaging.stray_bytes import stray_bytes_before

# Header (6), logical screen width, height, flags, background, aspect (7); the flags name a global colour
# table of 3 << (size + 1) bytes after it.
_SCREEN_END = 13
_FLAGS = 10
_GLOBAL_TABLE = 0x80
# What Pillow reads a block by: an extension (!), an image (,) or the trailer (;); other bytes it skips.
_BLOCK = re.compile(rb"[!,;]")
_BLOCK_SIZE = 1
_EXTENSION = 0x21


def header_steps(data: bytes | memoryview, most: int) -> int:
    """The steps before the first image (or the trailer, or the end), counted up to `most` + 1 at most:
    the walk stops there, so a header of millions of blocks costs no more to count than `most`."""
    end = len(data)
    if end < _SCREEN_END:
        return 0
    flags = data[_FLAGS]
    at = _SCREEN_END + (3 << ((flags & 7) + 1) if flags & _GLOBAL_TABLE else 0)
    steps = 0
    while steps <= most:
        if at < end and data[at] == _EXTENSION:  # where encoders write the next block: no search
            start = at
        else:
            stray, block = stray_bytes_before(_BLOCK, _BLOCK_SIZE, data, at, most - steps)
            steps += stray
            if block is None:
                return steps
            start = block.start()
        steps += 1  # the block
        if data[start] != _EXTENSION:
            break
        at = start + 2  # past the introducer and the label
        while steps <= most and at < end:  # sub-blocks: a size byte, that many bytes; 0 ends them
            size = data[at]
            steps += 1
            at += 1 + size
            if size == 0:
                break
    return steps
