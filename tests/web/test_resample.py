"""web/src/resample.mjs gives the bytes service/imaging/preprocess.py gives, run by node on the same
pixels: the browser and the server feed the model the same input for a lossless picture."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest

from service.imaging.preprocess import resize
from service.settings import PROJECT_ROOT

NODE = shutil.which("node")
SCRIPT = """
import { resize } from 'MODULE';
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks));
const rgba = Uint8Array.from(Buffer.from(job.rgba, 'base64'));
const out = resize(rgba, job.width, job.box, job.outW, job.outH);
process.stdout.write(Buffer.from(out).toString('base64'));
""".replace("MODULE", (PROJECT_ROOT / "web" / "src" / "resample.mjs").as_uri())


def browser_resize(pixels: np.ndarray, box: tuple[int, int, int, int], out_w: int, out_h: int) -> np.ndarray:
    rgba = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, np.uint8)], axis=2)
    job = {
        "rgba": base64.b64encode(rgba.tobytes()).decode(),
        "width": pixels.shape[1],
        "box": box,
        "outW": out_w,
        "outH": out_h,
    }
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return np.frombuffer(base64.b64decode(done.stdout), np.uint8).reshape(out_h, out_w, 3)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize(
    ("shape", "box", "size"),
    [
        ((600, 512), (32, 37, 448, 526), (224, 224)),  # grace_hopper's central crop: box 2x, then linear
        ((270, 480), (30, 16, 420, 238), (224, 224)),  # a 1080p JPEG at DCT 1/4, cropped: linear only
        ((1080, 1920), (0, 0, 1920, 1080), (128, 72)),  # letterbox of a 1080p PNG: box 15x
        ((600, 800), (0, 0, 800, 600), (192, 144)),  # box 4x: halves round to even
        ((700, 700), (0, 0, 700, 700), (224, 224)),  # box 3x
        ((100, 90), (0, 0, 90, 100), (224, 224)),  # upscaling a small picture
    ],
)
def test_browser_resize_equals_the_servers(
    shape: tuple[int, int], box: tuple[int, int, int, int], size: tuple[int, int]
) -> None:
    pixels = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    left, top, width, height = box
    server = resize(pixels[top : top + height, left : left + width], *size)
    browser = browser_resize(pixels, box, *size)
    if size == (224, 224) and shape == (100, 90):
        # upscaling: OpenCV's scalar tail of each row rounds its own way on a few pixels
        assert np.abs(browser.astype(int) - server).max() <= 1
        assert (browser != server).mean() < 0.01
    else:
        assert np.array_equal(browser, server)
