"""The names of bench-goals' server configurations: the keys of goals.json's `loads`, which
bench-readme (service/bench/results_md.py) reads back."""

from __future__ import annotations

DEFAULT = "1 worker x 1 thread (default)"
PLAIN = "1 worker x 1 thread, asyncio + h11"  # the default without uvloop and httptools
ACCESS_LOG = "1 worker x 1 thread, access log on"  # the default with MVA_ACCESS_LOG=true


def grid_name(workers: int, threads: int, spinning: bool = False) -> str:
    return f"{workers} worker(s) x {threads} thread(s)" + (", spinning" if spinning else "")
