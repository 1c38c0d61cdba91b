"""browser.json's format version: `bench-browser` writes it, and bench-readme refuses a file of another
one (a report from before it, whose round-trip "p99" of a few runs was their maximum, would go into
the README as if it were this version's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.bench.bench_json import read_versioned_json

BROWSER_SCHEMA = 1


def read_browser_json(path: Path) -> dict[str, Any]:
    """browser.json's document, or OtherBenchSchema naming the file, its schema and what to do."""
    return read_versioned_json(path, BROWSER_SCHEMA, "mobile-vision-api bench-browser")
