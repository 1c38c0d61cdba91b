"""The latency lab's server matrix (`mobile-vision-api bench`, artifacts/bench/bench.json), when it has
been run: its in-process engine figures are the "native" side without HTTP around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.settings import PROJECT_ROOT

LAB_JSON = PROJECT_ROOT / "artifacts" / "bench" / "bench.json"


def native_p50(path: Path, model: str, precision: str) -> dict[str, Any] | None:
    """{"onnxruntime t1": p50 ms, ...} for the engine mode of `model`, or None without the file."""
    if not path.is_file():
        return None
    rows = json.loads(path.read_text()).get("results", [])
    found = {
        f"{row['backend']} t{row['threads']}": row["p50_ms"]
        for row in rows
        if row.get("model") == model
        and row.get("precision") == precision
        and row.get("mode") == "engine"
        and not row.get("error")  # a cell that failed has no figures
    }
    return found or None
