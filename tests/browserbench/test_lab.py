"""The lab's in-process engine figures that bench-browser reads from bench.json."""

from __future__ import annotations

import json
from pathlib import Path

from service.browserbench.lab import native_p50


def _row(backend: str, threads: int, p50_ms: float | None, error: str | None = None) -> dict[str, object]:
    return {"model": "m", "precision": "int8", "mode": "engine", "backend": backend, "threads": threads} | {
        "p50_ms": p50_ms,
        "error": error,
    }


def test_the_engine_p50_of_each_cell_and_none_of_a_failed_one(tmp_path: Path) -> None:
    lab = tmp_path / "bench.json"
    rows = [_row("onnxruntime", 1, 5.5), _row("onnxruntime", 2, None, "RuntimeError: cannot load")]
    lab.write_text(json.dumps({"results": rows}))
    assert native_p50(lab, "m", "int8") == {"onnxruntime t1": 5.5}
    assert native_p50(tmp_path / "none.json", "m", "int8") is None
