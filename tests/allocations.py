"""The most memory a block of a test allocated, for tests that bound what a step copies or holds."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Peak:
    bytes: int = 0


@contextmanager
def peak_allocation() -> Iterator[Peak]:
    """`with peak_allocation() as peak: ...`, then `peak.bytes`: the most that Python's allocators held
    at once inside the block, of what was allocated there (tracemalloc sees nothing allocated before it
    starts, so the test's own input does not count). A block that raises leaves it 0."""
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
        peak.bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
