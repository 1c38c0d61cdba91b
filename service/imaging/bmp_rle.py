"""How many steps Pillow's decoder of RLE-compressed BMPs (BmpRleDecoder, written in Python) takes: one
each 2-byte code, and one each pixel it writes one at a time: those of an RLE4 run or absolute run,
and those an end of line pads its row with. A 16 KiB RLE8 BMP of 4000x4000, a pixel and an end of line
a row, held a core 4 s, and an RLE4 one of whole runs 2 s; 10 MiB of end-of-line codes that pad
nothing would take ~3 s. Its 8-bit runs and absolute runs, and a delta's skip, are one step each."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import ImageFile

# The second byte of a code whose first is 0: end of line, end of bitmap, delta (two bytes follow);
# higher, an absolute run of that many pixels.
_END_OF_LINE, _END_OF_BITMAP, _DELTA = 0, 1, 2


@dataclass(frozen=True)
class RleTile:
    """Where the compressed pixels begin and what they make, as Pillow's BMP reader found them."""

    offset: int
    width: int
    height: int
    rle4: bool  # 4 bits a pixel, else 8


def rle_tile(image: ImageFile.ImageFile) -> RleTile | None:
    """Where an RLE-compressed BMP's pixels are and what they make, as Pillow's reader found them in its
    header; None for any other picture."""
    if image.format != "BMP" or len(image.tile) != 1 or image.tile[0].codec_name != "bmp_rle":
        return None
    tile = image.tile[0]
    left, top, right, bottom = tile.extents or (0, 0, 0, 0)
    rle4 = isinstance(tile.args, tuple) and bool(tile.args[1])  # (raw mode, RLE4, row order)
    return RleTile(tile.offset, right - left, bottom - top, rle4)


def rle_steps(data: bytes | memoryview, tile: RleTile, most: int) -> int:
    """Pillow's steps for the pixels, as its decoder runs (its `x`, the row's pixels so far, clips a
    run past the row's end), counted up to `most` + 1 at most: the walk stops there."""
    pixels = tile.width * tile.height
    steps = written = x = 0
    at, end = tile.offset, len(data)
    while steps <= most and written < pixels and at + 2 <= end:
        count, code = data[at], data[at + 1]
        at += 2
        steps += 1
        if count:  # a run of `count` pixels of one value (two, alternating, in RLE4)
            count = min(count, max(0, tile.width - x))
            steps += count if tile.rle4 else 0
            written += count
            x += count
        elif code == _END_OF_LINE:  # the rest of the row, padded a pixel at a time
            padding = -written % tile.width
            steps += padding
            written += padding
            x = 0
        elif code == _END_OF_BITMAP:
            break
        elif code == _DELTA:
            if at + 2 > end:
                break
            right, up = data[at], data[at + 1]
            at += 2
            written += min(pixels - written, right + up * tile.width)
            x = written % tile.width
        else:  # an absolute run: `code` pixels, a byte each (two to a byte, read a byte a step, in RLE4)
            run = min(pixels - written, code)
            size = (run + 1) // 2 if tile.rle4 else run
            steps += size if tile.rle4 else 0
            at += size
            written += run
            if at > end or written == pixels:
                break
            x += code
            at += at % 2  # runs are padded to 16 bits
    return min(steps, most + 1)
