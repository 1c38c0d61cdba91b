"""The latency lab's server matrix (`mobile-vision-api bench`, artifacts/bench/bench.json), when it has
been run: its in-process engine figures are the "native" side without HTTP around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.bench.bench_json import read_bench_json
from service.settings import PROJECT_ROOT

LAB_JSON = PROJECT_ROOT / "artifacts" / "bench" / "bench.json"


def read_lab(path: Path) -> dict[str, Any] | None:
    """bench.json's document, None without the file; OtherBenchSchema for a file of another schema, or
    one that is no JSON object (cut short)."""
    return read_bench_json(path) if path.is_file() else None


def native_p50(lab: dict[str, Any] | None, model: str, precision: str) -> dict[str, Any] | None:
    """{"onnxruntime t1": p50 ms, ...} for the engine mode of `model`, or None without figures."""
    if lab is None:
        return None
    found = {
        f"{row['backend']} t{row['threads']}": row["p50_ms"]
        for row in lab["results"]
        if row.get("model") == model
        and row.get("precision") == precision
        and row.get("mode") == "engine"
        and not row.get("error")  # a cell that failed has no figures
    }
    return found or None
