"""bench.json's format version: `bench` writes it, and its readers refuse a file of another one (they
would misread its rows: an older file has no `error` field, so a failed cell would look measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH_SCHEMA = 1


class OtherBenchSchema(ValueError):
    pass


def read_bench_json(path: Path) -> dict[str, Any]:
    """bench.json's document, or OtherBenchSchema naming the file, its schema and what to do."""
    document: dict[str, Any] = json.loads(path.read_text())
    found = document.get("schema")
    if found != BENCH_SCHEMA:
        written = "no schema (written before it had one)" if found is None else f"schema {found!r}"
        raise OtherBenchSchema(
            f"{path} has {written}; this version reads schema {BENCH_SCHEMA}: rerun `make bench`"
        )
    return document
