"""How long Pillow's decoder of RLE-compressed BMPs (BmpRleDecoder, written in Python) takes, in steps
of what it spends writing one RLE4 run's pixel: each 2-byte code (two 1-byte reads) costs several, and
so does each pixel it writes one at a time beyond those: an RLE4 absolute run's, and those an end of
line pads its row with. A 16 KiB RLE8 BMP of 4000x4000, a pixel and an end of line a row, held a core
2-4 s; 10 MiB of end-of-line codes that pad nothing ~2 s. Its 8-bit runs and absolute runs are copied
whole, and a delta's skip too."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from PIL import ImageFile

# The second byte of a code whose first is 0: end of line, end of bitmap, delta (two bytes follow);
# higher, an absolute run of that many pixels.
_END_OF_LINE, _END_OF_BITMAP, _DELTA = 0, 1, 2
# Pillow's costs in steps of an RLE4 run's pixel (65-120 ns here, Pillow 13, by hand: 2 M of them in
# 0.13-0.24 s): a code 350-800 ns, a delta's or an absolute run's 1.1-1.4 us, an RLE4 absolute run's
# byte 250-510 ns, a pixel an end of line pads with 140-170 ns. Each rounded so a step costs <= ~130 ns.
CODE_STEPS = 8
LONG_CODE_STEPS = 12  # a delta or an absolute run
# an RLE4 run's code: its two pixel bytes made and a loop started (runs of 1-2 pixels cost 1.4-1.5x a
# step a pixel at CODE_STEPS); no more than LONG_CODE_STEPS, which most_steps counts a code at
RLE4_RUN_CODE_STEPS = 12
RLE4_ABSOLUTE_BYTE_STEPS = 4
PADDING_STEPS = 2


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


def takes_more_steps(data: bytes | memoryview, tile: RleTile, most: int) -> bool:
    """Whether Pillow's decode of the pixels takes more than `most` steps; walked only when a bound from
    the size alone could exceed it (at the service's limit, a picture of long runs as encoders write
    them is walked only above ~4 M pixels: the bound counts each pixel at up to PADDING_STEPS)."""
    return most_steps(len(data) - tile.offset, tile) > most and rle_steps(data, tile, most) > most


def most_steps(size: int, tile: RleTile) -> int:
    """A bound on the steps of `size` bytes of codes: a code costs at most LONG_CODE_STEPS and spans 2
    bytes, a delta 4, an absolute run 2 and its bytes (RLE4: each RLE4_ABSOLUTE_BYTE_STEPS more), so each
    byte at most LONG_CODE_STEPS / 2; on top, every pixel is written once, at most PADDING_STEPS."""
    return LONG_CODE_STEPS // 2 * max(0, size) + PADDING_STEPS * tile.width * tile.height


def rle_steps(data: bytes | memoryview, tile: RleTile, most: int) -> int:
    """Pillow's steps for the pixels, as its decoder runs (its `x`, the row's pixels so far, clips a
    run past the row's end), counted up to `most` + 1 at most: the walk stops there. The codes are read
    as pairs of bytes from two strided views, not indexed one by one (twice as fast here)."""
    width, pixels, rle4 = tile.width, tile.width * tile.height, tile.rle4
    run_code_steps, run_pixel_steps = (RLE4_RUN_CODE_STEPS, 1) if rle4 else (CODE_STEPS, 0)
    view = memoryview(data)
    steps = written = x = 0
    at, end = tile.offset, len(data)
    while written < pixels:  # a new pairing only after an absolute run that ends a byte off the old one
        pairs = zip(view[at::2], view[at + 1 :: 2], strict=False)  # a last odd byte is no code
        start = at
        for count, code in pairs:
            if steps > most or written >= pixels:
                return min(steps, most + 1)
            at += 2
            if count:  # a run of `count` pixels of one value (two, alternating, in RLE4)
                room = width - x
                if count > room:
                    count = room if room > 0 else 0
                steps += run_code_steps + count * run_pixel_steps
                written += count
                x += count
            elif code == _END_OF_LINE:  # the rest of the row, padded a pixel at a time
                padding = -written % width
                steps += CODE_STEPS + padding * PADDING_STEPS
                written += padding
                x = 0
            elif code == _END_OF_BITMAP:
                return min(steps + CODE_STEPS, most + 1)
            elif code == _DELTA:
                steps += LONG_CODE_STEPS
                skip = next(pairs, None)
                if skip is None:
                    return min(steps, most + 1)
                at += 2
                right, up = skip
                written += min(pixels - written, right + up * width)
                x = written % width
            else:  # an absolute run: `code` pixels, a byte each (two to a byte, read a byte a step, in RLE4)
                run = min(pixels - written, code)
                size = (run + 1) // 2 if rle4 else run
                steps += LONG_CODE_STEPS + (min(size, end - at) * RLE4_ABSOLUTE_BYTE_STEPS if rle4 else 0)
                at += size
                written += run
                if at > end or written == pixels:
                    return min(steps, most + 1)
                x += code
                at += at % 2  # runs are padded to 16 bits
                if (at - start) % 2:
                    break
                skipped = (size + 1) // 2  # past the run's bytes: a short run's by hand, faster
                if skipped > 4:
                    next(itertools.islice(pairs, skipped, skipped), None)
                else:
                    for _ in range(skipped):
                        next(pairs, None)
        else:
            break
    return min(steps, most + 1)
