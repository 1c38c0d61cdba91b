"""The lab's in-process engine figures that bench-browser reads from bench.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.bench.bench_json import BENCH_SCHEMA, OtherBenchSchema
from service.browserbench.lab import native_p50, read_lab


def _row(backend: str, threads: int, p50_ms: float | None, error: str | None = None) -> dict[str, object]:
    return {"model": "m", "precision": "int8", "mode": "engine", "backend": backend, "threads": threads} | {
        "p50_ms": p50_ms,
        "error": error,
    }


def test_the_engine_p50_of_each_cell_and_none_of_a_failed_one(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    rows = [_row("onnxruntime", 1, 5.5), _row("onnxruntime", 2, None, "RuntimeError: cannot load")]
    path.write_text(json.dumps({"schema": BENCH_SCHEMA, "results": rows}))
    assert native_p50(read_lab(path), "m", "int8") == {"onnxruntime t1": 5.5}
    assert read_lab(tmp_path / "none.json") is None and native_p50(None, "m", "int8") is None


def test_a_bench_json_of_another_schema_is_refused_by_name(tmp_path: Path) -> None:
    """Written before the schema (and the error field): its rows would be misread."""
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"results": [_row("onnxruntime", 1, 5.5)]}))
    with pytest.raises(OtherBenchSchema, match=r"bench\.json has no schema .*rerun `make bench`"):
        read_lab(path)
    path.write_text(json.dumps({"schema": BENCH_SCHEMA + 1, "results": []}))
    with pytest.raises(OtherBenchSchema, match=rf"has schema {BENCH_SCHEMA + 1}; this version reads schema"):
        read_lab(path)


def test_a_bench_json_cut_short_is_refused_as_bench_browser_handles_another_schema(tmp_path: Path) -> None:
    """bench-browser catches OtherBenchSchema and goes on without the lab's figures, with a note: a
    truncated bench.json was a JSONDecodeError traceback instead."""
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"schema": BENCH_SCHEMA, "results": [_row("onnxruntime", 1, 5.5)]})[:-9])
    with pytest.raises(OtherBenchSchema, match=r"bench\.json is not JSON \(.*\): rerun `make bench`$"):
        read_lab(path)
