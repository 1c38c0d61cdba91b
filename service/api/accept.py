"""The `Accept` header: which of the types a route can answer with the client prefers."""

from __future__ import annotations

from collections.abc import Sequence


def preferred(accept: str, offered: Sequence[str]) -> str | None:
    """The offered media type the header names with the highest quality (q > 0; the earlier one on a
    tie), or None when it names none of them. Wildcards (`*/*`, `image/*`) prefer nothing: the route
    keeps its default."""
    best, choice = 0.0, None
    for item in accept.split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        media_type = media_type.lower()
        if media_type not in offered:
            continue
        quality = _quality(params)
        if quality > best:  # strictly: the earlier one wins a tie
            best, choice = quality, media_type
    return choice


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
