"""The X-API-Key that load-test requests send to a server with MVA_API_KEY: one rule for the
locustfile's options and for the warm-up requests of `compare`."""

from __future__ import annotations

from pathlib import Path


def api_key_headers(key: str | None, key_file: str | None) -> dict[str, str]:
    """X-API-Key from `key`, else from `key_file` (whitespace stripped); none when both are empty, so
    runs against a server without a key are unchanged."""
    key = key or (Path(key_file).read_text().strip() if key_file else "")
    return {"X-API-Key": key} if key else {}
