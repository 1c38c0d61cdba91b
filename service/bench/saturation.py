"""The saturation goals of bench-goals: closed-loop load on each server configuration and the engine
alone as hard as this host allows, taking turns, and the figures the goals compare (throughput against
the engine and the in-process pipeline, p99 against p50)."""

from __future__ import annotations

import time
from typing import Any

from service.bench.grid_names import DEFAULT
from service.bench.http import api_key_headers
from service.bench.inprocess import InProcess
from service.bench.load import LoadResult, http_load, thread_load
from service.bench.matrix import Cell
from service.bench.process import Measure, server_cpu
from service.settings import CPU_COUNT
from service.turns import rotated


def engine_measures(inprocess: InProcess, cell: Cell, image: bytes) -> dict[str, Measure]:
    """The engine alone for `cell`'s model and precision, as hard as this host allows: 1-thread
    runners on every core at once, or one runner with every core."""
    wide = Cell(cell.model, cell.engine, cell.precision, cell.kernels, CPU_COUNT)
    narrow_call, wide_call = inprocess.engine_call(cell, image), inprocess.engine_call(wide, image)
    pipeline_call = inprocess.pipeline_call(cell, image)
    return {
        f"engine {cell.label} x{CPU_COUNT} callers": lambda s: thread_load(narrow_call, CPU_COUNT, s, 0.3),
        f"engine {wide.label} x1 caller": lambda s: thread_load(wide_call, 1, s, 0.3),
        # not an engine figure: decode + engine + postprocessing, what the server does minus HTTP
        f"pipeline {cell.label} x{CPU_COUNT} callers": lambda s: thread_load(
            pipeline_call, CPU_COUNT, s, 0.3
        ),
    }


def http_measure(url: str, image: bytes, concurrency: int) -> Measure:
    """The default request under closed-loop load (with MVA_API_KEY when set, as a server started here
    inherits it)."""
    headers = api_key_headers()
    return lambda seconds: http_load(
        url, "/classify", {}, image, "image/jpeg", concurrency, seconds, 0.5, headers
    )


def interleaved(
    measures: dict[str, Measure], rounds: int, seconds: float
) -> dict[str, tuple[LoadResult, float]]:
    """Each measure runs `rounds` times for seconds / rounds, the measures taking turns (service/bench/
    turns.py), so load from elsewhere on a shared machine hits all of them alike. Also returns the cores
    this (the bench) process kept busy meanwhile: for HTTP, what the load generator itself takes from
    the server."""
    parts: dict[str, list[LoadResult]] = {name: [] for name in measures}
    cpu_s = dict.fromkeys(measures, 0.0)
    wall_s = dict.fromkeys(measures, 0.0)
    for turn in range(rounds):
        for name in rotated(list(measures), turn):
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            parts[name].append(measures[name](seconds / rounds))
            cpu_s[name] += time.process_time() - cpu_before
            wall_s[name] += time.perf_counter() - wall_before
    combined = {name: LoadResult.combine(results) for name, results in parts.items()}
    return {name: (r, round(cpu_s[name] / wall_s[name], 2)) for name, r in combined.items()}


def summary(result: LoadResult, bench_process_cores: float) -> dict[str, Any]:
    return {
        "bench_process_cores": bench_process_cores,
        "rps": result.throughput_rps,
        "ok": result.ok,
        "failures": result.failures,
        "p50_ms": result.latency.p50_ms,
        "p99_ms": result.latency.p99_ms,
        "p99_over_p50": round(result.latency.p99_ms / result.latency.p50_ms, 2),
    }


def saturation_figures(
    loads: dict[str, dict[str, Any]], cpu_windows: list[dict[str, float]]
) -> dict[str, Any]:
    """The default server against the best engine measure and the in-process pipeline (`loads`: the
    summaries by name, as `interleaved` and `summary` give them), and where the server's CPU went."""
    best_engine = max((n for n in loads if n.startswith("engine")), key=lambda n: loads[n]["rps"])
    default = loads[DEFAULT]
    best_server = max(
        (n for n in loads if not n.startswith(("engine", "pipeline"))), key=lambda n: loads[n]["rps"]
    )
    pipeline = next(n for n in loads if n.startswith("pipeline"))
    figures = {
        "default": default,
        "best_engine": best_engine,
        "default_vs_engine": round(default["rps"] / loads[best_engine]["rps"], 3),
        "best_server": best_server,
        "best_server_vs_engine": round(loads[best_server]["rps"] / loads[best_engine]["rps"], 3),
        "default_vs_pipeline": round(default["rps"] / loads[pipeline]["rps"], 3),
    }
    if cpu_windows:
        figures["server_cpu"] = server_cpu(cpu_windows, loads[pipeline])
    return figures
