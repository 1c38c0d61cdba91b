"""List headers (RFC 9110 5.3): a client or proxy may send one on several lines, which together are one
list in their order; reading the first line alone drops the rest."""

from __future__ import annotations

from starlette.datastructures import Headers


def list_header(headers: Headers, name: str) -> str | None:
    """Every line of `name` joined as one comma-separated list; None when the request has none."""
    lines = headers.getlist(name)
    return ", ".join(lines) if lines else None
