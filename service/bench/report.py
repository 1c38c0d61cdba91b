"""Writes a benchmark's results: a markdown table (stdout, README), JSON (everything) and CSV (one row
per cell and mode)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from service.bench.bench_json import BENCH_SCHEMA
from service.bench.matrix import Cell
from service.bench.ratios import Ratio
from service.bench.run import Result


def _by_cell(results: list[Result]) -> dict[Cell, dict[str, Result]]:
    table: dict[Cell, dict[str, Result]] = {}
    for r in results:
        table.setdefault(r.cell, {})[r.mode] = r
    return table


# below this many runs a p99 is only the slowest runs interpolated (10 runs: 0.91 of the way from the
# 9th to the 10th), not a 1-in-100 tail: its table cell says how many runs it came from
P99_MIN_RUNS = 100


def _ms(result: Result | None, field: str = "p50_ms", digits: int = 2) -> str:
    """A figure of the cell in that mode: empty when the mode did not run, "failed" when it failed."""
    if result is None:
        return ""
    if result.stats is None:
        return "failed"
    figure = f"{getattr(result.stats, field):.{digits}f}"
    if field == "p99_ms" and result.stats.runs < P99_MIN_RUNS:
        return f"{figure} ({result.stats.runs} runs)"
    return figure


def markdown_table(results: list[Result]) -> str:
    lines = [
        "| model | engine | precision | threads | engine p50 | engine p99 | engine inf/s "
        "| pipeline p50 | HTTP p50 | HTTP p99 | HTTP - pipeline |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, modes in _by_cell(results).items():
        engine, pipeline, http = modes.get("engine"), modes.get("pipeline"), modes.get("http")
        overhead = (
            f"{http.stats.p50_ms - pipeline.stats.p50_ms:+.2f}"
            if http is not None and pipeline is not None and http.stats and pipeline.stats
            else ""
        )
        lines.append(
            f"| {cell.model} | {cell.backend} | {cell.precision} | {cell.threads} | {_ms(engine)} "
            f"| {_ms(engine, 'p99_ms')} | {_ms(engine, 'throughput_rps', 0)} | {_ms(pipeline)} | {_ms(http)} "
            f"| {_ms(http, 'p99_ms')} | {overhead} |"
        )
    return "\n".join(lines)


def markdown_failures(results: list[Result]) -> str:
    """The cells that failed, in which mode and why (empty when none did)."""
    failed = [f"- {r.cell.model} {r.cell.label}, {r.mode}: {r.error}" for r in results if r.error]
    return "\n".join(["Failed, no figures:", "", *failed]) if failed else ""


def markdown_ratios(ratios: list[Ratio]) -> str:
    lines = ["| ratio | model | compared | value |", "|---|---|---|---:|"]
    for r in ratios:
        value = f"{r.value:+.2f} ms" if r.kind == "http_overhead_ms" else f"{r.value:.2f}x"
        lines.append(f"| {r.kind} | {r.model} | {r.name} | {value} |")
    return "\n".join(lines)


def markdown_machine(machine: dict[str, object]) -> str:
    packages = machine["packages"]
    assert isinstance(packages, dict)
    simd = machine["simd"]
    assert isinstance(simd, list)
    versions = ", ".join(f"{k} {v}" for k, v in packages.items())
    return (
        f"Machine: {machine['cpu']} ({machine['machine']}), {machine['cores']} cores usable, "
        f"SIMD: {', '.join(simd)}; load average at start {machine['load_average']}; "
        f"Python {machine['python']}, {machine['system']}.\n\nPackages: {versions}."
    )


def write_json(
    path: Path,
    machine: dict[str, object],
    config: dict[str, object],
    results: list[Result],
    ratios: list[Ratio],
) -> None:
    document = {
        "schema": BENCH_SCHEMA,
        "machine": machine,
        "config": config,
        "results": [r.row() for r in results],
        "ratios": [asdict(r) for r in ratios],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_csv(path: Path, results: list[Result]) -> None:
    rows = [r.row() for r in results]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
