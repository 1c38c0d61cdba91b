"""The pixels of an RLE-compressed BMP (RLE8, RLE4), decoded in place of Pillow's decoder of them.

Pillow's is written in Python and writes a pixel at a time: a 16 KiB RLE8 BMP of 4000x4000, a pixel and
an end of line a row, held a core 2-4 s. This one writes each code's pixels with one bytes operation
and skips what an end of line or a delta leaves black (the buffer starts black), so its work is a step
a code plus copies bounded by the picture's size. It counts the codes and stops past `MAX_CODES`
(TooManyCodes). It gives the pixels Pillow's decoder gives, its quirks too: a run is cut at its row's
end, an absolute run is not (it goes on into the next row), and an end of line pads to the end of the
row the pixels so far reach."""

from __future__ import annotations

import binascii
import itertools
import operator

from PIL import Image, ImageFile

# The codes decoded at most: about 1 s of a core. By hand (time.perf_counter and process_time, on a
# shared 2-core machine), a code costs 0.1 us (end of line), 0.4-0.7 us (runs, deltas), 0.9-1.6 us of
# CPU (absolute runs of 3 pixels, the costliest: 1 M of them 1.25-1.5 s, 750,000 0.7-1.2 s); 10 MiB
# holds up to 5.2 M codes. The old guard's worst, its walk of the codes and Pillow's decoder on
# grace_hopper.bmp in greys 4x4 times, was 1.15 s. An encoder writes a code a run of one colour or a
# stretch of up to 255 pixels, and an end of line a row: a photo ~0.15 codes a pixel (that one, 5 M
# pixels: 670,000 codes, 0.55 s of CPU now), as many as the old guard let through.
MAX_CODES = 750_000

# The second byte of a code whose first is 0: end of line, end of bitmap, delta (two bytes follow);
# higher, an absolute run of that many pixels.
_END_OF_LINE, _END_OF_BITMAP, _DELTA = 0, 1, 2
# A run of up to 255 pixels of each byte value: RLE8, its value; RLE4, its two nibbles by turns.
_RLE8_RUNS = [bytes((value,)) * 255 for value in range(256)]
_RLE4_RUNS = [bytes((value >> 4, value & 0xF)) * 128 for value in range(256)]
# A hexadecimal digit's character -> its value: an RLE4 absolute run's pixels from its bytes in hex.
_HEX = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


class TooManyCodes(Exception):
    """The picture has more codes than the decoder was allowed to decode."""


def rle_pixels(
    codes: bytes, width: int, height: int, rle4: bool, offset: int = 0, most_codes: int = MAX_CODES
) -> bytearray:
    """The pixels (palette indices, a byte each, rows in the order stored) `codes` make, as Pillow's
    decoder makes them: shorter than `width` x `height` where the codes end first (an end of bitmap
    early, a file cut short), which Pillow refuses as not enough image data. `offset`: where the codes
    begin in the file, whose absolute runs are padded to an even offset in it. The codes are read in
    pairs of bytes from one iterator (an absolute run's bytes taken from it by their position), four
    times as fast as by index here."""
    total = width * height
    pixels = bytearray(total)  # black: what an end of line or a delta skips
    out = memoryview(pixels)  # written through: twice as fast as the bytearray's own slices here
    runs = _RLE4_RUNS if rle4 else _RLE8_RUNS
    end = len(codes)
    remaining = iter(codes)
    pairs = zip(remaining, remaining, strict=False)  # a last odd byte is no code
    filled = x = 0  # `x`: pixels into the row, for cutting a run at its end
    for count, value in itertools.islice(pairs, most_codes):
        if filled >= total:
            break
        if count:  # a run of `count` pixels, cut at the row's end
            room = width - x
            if count > room:
                count = max(room, 0)
            out[filled : filled + count] = runs[value][:count]
            filled += count
            x += count
        elif value == _END_OF_LINE:
            filled += -filled % width
            x = 0
        elif value == _END_OF_BITMAP:
            break
        elif value == _DELTA:  # right and up (rows on, in the order stored), in the two bytes after
            skip = next(pairs, None)
            if skip is None:
                break
            filled += min(total - filled, skip[0] + skip[1] * width)
            x = filled % width
        else:  # an absolute run of `value` pixels, a byte each or two to a byte, padded to 16 bits
            count = value if value <= total - filled else total - filled
            size = (count + 1) >> 1 if rle4 else count
            at = end - operator.length_hint(remaining)
            if at + size > end:
                break  # cut short: what a part of it adds cannot fill the picture
            if rle4:  # in hexadecimal a byte's two digits are its nibbles, high first
                out[filled : filled + count] = binascii.hexlify(codes[at : at + size]).translate(_HEX)[:count]
            else:
                out[filled : filled + count] = codes[at : at + size]
            filled += count
            x += value  # not cut at the row's end: a run after it writes nothing
            taken = size + (offset + at + size) % 2
            next(itertools.islice(remaining, taken, taken), None)
    else:  # as many codes as allowed: too many if the picture wants more
        if filled < total and operator.length_hint(remaining) >= 2:
            raise TooManyCodes(f"more than {most_codes} codes")
    return pixels if filled >= total else pixels[:filled]


class BmpRleDecoder(ImageFile.PyDecoder):
    """Pillow's decoder for its BMP reader's "bmp_rle" tiles, whose arguments are (raw mode, RLE4,
    row order)."""

    _pulls_fd = True

    def decode(self, buffer: Image.DecoderInput) -> tuple[int, int]:
        assert self.fd is not None
        offset = self.fd.tell()
        pixels = rle_pixels(self.fd.read(), self.state.xsize, self.state.ysize, bool(self.args[1]), offset)
        # a byte a pixel: greys for a greyscale palette (modes L and 1), else palette indices
        raw_mode = "L" if self.mode in ("1", "L") else "P"
        self.set_as_raw(pixels, raw_mode, (0, self.args[-1]))
        return -1, 0
