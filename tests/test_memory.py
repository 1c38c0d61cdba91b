"""keep_freed_memory: freed buffers are reused instead of page-faulted in again."""

from __future__ import annotations

import subprocess
import sys

from service.memory import keep_freed_memory

PROBE = """
import io, resource, sys
import numpy as np
from PIL import Image
from service.memory import keep_freed_memory
from service.imaging.decode import decode_image
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
picture = np.random.default_rng(0).integers(0, 256, (600, 512, 3), dtype=np.uint8)
out = io.BytesIO()
Image.fromarray(picture).save(out, "BMP")
data = out.getvalue()
for _ in range(3):
    decode_image(data, 10**8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    decode_image(data, 10**8)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_applies_on_glibc_linux() -> None:
    assert keep_freed_memory() is True


def test_decoding_the_same_bmp_again_reuses_memory_instead_of_page_faulting() -> None:
    default, tuned = page_faults("default"), page_faults("tuned")
    assert tuned * 10 < default, (default, tuned)
