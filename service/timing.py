"""Per-request stage timing, reported in the body (`timing`) and as a Server-Timing header; one
call's time, which the measures (autotune, the lab) take."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# receive: reading the upload; load: building the runner (first use of a model + settings only);
# queue: waiting for a free core.
STAGES = ("receive", "queue", "load", "decode", "preprocess", "inference", "postprocess")


class StageTimer:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + ms

    def finish(self) -> dict[str, float]:
        """Stage figures plus `total` (ms since the timer started), rounded to microseconds."""
        return {**{name: round(self.ms.get(name, 0.0), 3) for name in STAGES}, "total": self._total()}

    def so_far(self) -> dict[str, float]:
        """The stages a request went through before an error ended it, plus `total`: where its time
        went. A stage it never reached is left out, not reported as 0."""
        return {
            **{name: round(self.ms[name], 3) for name in STAGES if name in self.ms},
            "total": self._total(),
        }

    def _total(self) -> float:
        return round((time.perf_counter() - self.started) * 1000.0, 3)


def time_call(call: Callable[[], object]) -> float:
    """How long `call()` took, in ms."""
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def server_timing_header(timing: dict[str, float]) -> str:
    return ", ".join(f"{name};dur={ms:.3f}" for name, ms in timing.items())
