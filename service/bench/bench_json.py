"""bench.json's format version: `bench` writes it, and its readers refuse a file of another one (they
would misread its rows: an older file has no `error` field, so a failed cell would look measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH_SCHEMA = 1


class OtherBenchSchema(ValueError):
    pass


class UnreadableLabJson(OtherBenchSchema):
    """A lab document that is no JSON object (cut short by a full disk, edited by hand): its readers
    handle it as one of another schema, a document this version cannot read, named, with its rerun."""


def read_bench_json(path: Path) -> dict[str, Any]:
    """bench.json's document, or OtherBenchSchema naming the file, its schema and what to do."""
    return read_versioned_json(path, BENCH_SCHEMA, "make bench")


def read_versioned_json(path: Path, schema: int, rerun: str) -> dict[str, Any]:
    """A lab document with a `schema` field (bench.json, browser.json) of this version, or
    OtherBenchSchema naming the file, the schema it has (or that it is no JSON object) and the command
    (`rerun`) that writes it anew."""
    try:
        document = json.loads(path.read_text())
    except ValueError as exc:  # cut short, or not even UTF-8
        raise UnreadableLabJson(f"{path} is not JSON ({exc}): rerun `{rerun}`") from exc
    if not isinstance(document, dict):
        raise UnreadableLabJson(f"{path} is no JSON object: rerun `{rerun}`")
    found = document.get("schema")
    if found != schema:
        written = "no schema (written before it had one)" if found is None else f"schema {found!r}"
        raise OtherBenchSchema(f"{path} has {written}; this version reads schema {schema}: rerun `{rerun}`")
    return document
