"""The bench's markdown table, from real Stats of known samples."""

from __future__ import annotations

from service.bench.matrix import Cell
from service.bench.report import markdown_table
from service.bench.run import Result
from service.bench.stats import Stats

CELL = Cell("mobilenet_v2", "litert", "int8", "reference", 1)


def _row(samples_ms: list[float]) -> list[str]:
    results = [Result(CELL, mode, Stats.of(samples_ms)) for mode in ("engine", "pipeline", "http")]
    return [cell.strip() for cell in markdown_table(results).splitlines()[2].split("|")[1:-1]]


def test_a_p99_of_fewer_than_100_runs_says_how_many_it_came_from() -> None:
    """10 runs (the reference kernels' cap, --quick): numpy puts p99 at 0.91 of the way from the 9th to
    the 10th run, 9.91 here; published bare it would pass for a 1-in-100 tail."""
    row = _row([float(ms) for ms in range(1, 11)])
    engine_p99, http_p99 = row[5], row[9]
    assert engine_p99 == http_p99 == "9.91 (10 runs)"
    assert row[4] == "5.50"  # p50 is no tail: as it is


def test_a_p99_of_100_runs_or_more_stands_as_it_is() -> None:
    row = _row([float(ms) for ms in range(1, 101)])
    assert (row[5], row[9]) == ("99.01", "99.01")
