"""What a server process uses while the bench loads it: CPU by thread (the event loop against the
inference threads) and the RSS of the process tree."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.bench.load import LoadResult

Measure = Callable[[float], LoadResult]  # seconds -> one measured window


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds so far of a process's main thread (the server's event loop) and of all its other
    threads (inference, onnxruntime), from /proc (Linux). The others are the process's total less the
    main thread's: the total keeps the time of threads that have ended (a sum over the threads alive
    lost it, and a window in which one ended came out short, even negative)."""
    total, main = _cpu_s(f"/proc/{pid}/stat"), _cpu_s(f"/proc/{pid}/task/{pid}/stat")
    return main, total - main


def _cpu_s(stat: str) -> float:
    """utime + stime of a /proc stat file."""
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_thread_cpu(measure: Measure, pid: int, windows: list[dict[str, float]]) -> Measure:
    """`measure`, also noting the server's CPU by thread over each window."""

    def run(seconds: float) -> LoadResult:
        before, start = thread_cpu_s(pid), time.perf_counter()
        result = measure(seconds)
        after = thread_cpu_s(pid)
        loop, other = after[0] - before[0], after[1] - before[1]
        wall = time.perf_counter() - start
        # the CPU times cover the whole call: per request, every request answered in it counts
        windows.append(
            {"wall": wall, "ok": result.ok, "answered": result.answered, "loop": loop, "other": other}
        )
        return result

    return run


def server_cpu(windows: list[dict[str, float]], pipeline: dict[str, Any]) -> dict[str, float]:
    """Where a request's CPU goes at saturation: the event loop (HTTP, FastAPI, the response), the
    other threads (decode ... postprocessing, the engine), against the in-process pipeline's CPU per
    request; and the cores the server kept busy."""
    wall, answered = sum(w["wall"] for w in windows), sum(w["answered"] for w in windows)
    loop, other = sum(w["loop"] for w in windows), sum(w["other"] for w in windows)
    in_process = pipeline["bench_process_cores"] * 1000 / pipeline["rps"]
    return {
        "event_loop_ms_per_request": round(loop * 1000 / answered, 2),
        "other_threads_ms_per_request": round(other * 1000 / answered, 2),
        "in_process_pipeline_ms_per_request": round(in_process, 2),
        "server_busy_cores": round((loop + other) / wall, 2),
    }


def tree_rss_mb(pid: int) -> float:
    """RSS of a server process and its children (uvicorn's worker processes), in MiB."""
    import psutil

    process = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20, 1)
