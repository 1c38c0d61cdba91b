from __future__ import annotations

from PIL import Image

from service.imaging.gif_header import header_steps
from tests.pictures import encoded, with_gif_blocks

EMPTY_COMMENT = b"!\xfe\x00"  # the extension, then the empty sub-block that ends it


def plain() -> bytes:
    return encoded(Image.new("RGB", (8, 8), (10, 20, 30)), "GIF")


def test_a_block_is_a_step_and_so_is_each_sub_block_and_stray_byte() -> None:
    """Pillow's reader takes them one at a time (GifImagePlugin's _seek loop and its data())."""
    data = plain()
    assert header_steps(data, 100) == 1  # the image descriptor
    assert header_steps(with_gif_blocks(data, EMPTY_COMMENT * 5), 100) == 1 + 2 * 5
    assert header_steps(with_gif_blocks(data, b"!\xfe" + b"\x01x" * 7 + b"\x00"), 100) == 1 + 1 + 7 + 1
    assert header_steps(with_gif_blocks(data, b"\x00\x01\xff"), 100) == 1 + 3


def test_sub_block_contents_are_not_steps() -> None:
    """A sub-block's bytes are skipped by its size, block introducers among them too."""
    comment = b"!\xfe" + (b"\xff" + b"!,;" * 85) * 3 + b"\x00"
    assert header_steps(with_gif_blocks(plain(), comment), 100) == 1 + 1 + 3 + 1


def test_the_walk_ends_at_the_first_image() -> None:
    """Pillow reads no further: an animation's later frames and their extensions are not counted."""
    frames = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(100)]
    animated = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)
    assert header_steps(animated, 1_000) < 10  # a loop count and a graphic control


def test_the_count_stops_past_most_or_at_the_end() -> None:
    data = plain()
    assert header_steps(with_gif_blocks(data, EMPTY_COMMENT * 1_000), most=10) == 11
    assert header_steps(with_gif_blocks(data, b"!\xfe" + b"\x01x" * 1_000), most=10) == 11
    no_colour_table = data[:10] + b"\x00" + data[11:13]
    assert header_steps(no_colour_table + b"\x00" * 5, 100) == 5  # no block: stray bytes to the end
    assert header_steps(data[:13], 100) == 0  # cut in its colour table
    assert header_steps(with_gif_blocks(data, b"\x00" * 1_000), most=10) == 11  # stray ones too
    assert header_steps(data[:10], 100) == 0
