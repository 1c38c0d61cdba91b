"""Requests slower than the p95 limit, counted per endpoint from each request's exact time. Locust keeps
response times rounded (to 10 ms from 100 ms, to 100 ms from 1 s: 1049 ms is kept as 1000), so its p95
cannot tell on which side of a limit a run falls; a count of the requests above the limit can. Counts
merge by adding: in distributed mode each worker sends what it counted with its stats report."""

from __future__ import annotations

from collections.abc import Mapping


class SlowRequests:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, endpoint: str, response_time_ms: float, limit_ms: float) -> None:
        """One request; only one above the limit is counted."""
        if response_time_ms > limit_ms:
            self.counts[endpoint] = self.counts.get(endpoint, 0) + 1

    def drain(self) -> dict[str, int]:
        """What was counted since the last drain (a worker's share of its next report)."""
        out, self.counts = self.counts, {}
        return out

    def merge(self, other: Mapping[str, int]) -> None:
        for endpoint, n in other.items():
            self.counts[endpoint] = self.counts.get(endpoint, 0) + n
