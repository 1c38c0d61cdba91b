"""Pass/fail of a whole run: failure ratio and p95 limits on its totals. (Plain numbers in, so that
importing this does not import locust, whose gevent patching must stay out of other processes.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    max_fail_ratio: float = 0.01
    max_p95_ms: float | None = None  # None: no latency limit
    min_requests: int = 1  # a run that sent nothing proves nothing


@dataclass(frozen=True)
class EndpointLatency:
    requests: int
    over_limit: int  # requests slower than the p95 limit, by their exact times: what decides
    p95_ms: float  # locust's, from its rounded times: what the message shows

    @property
    def p95_above_limit(self) -> bool:
        """Whether the p95 as locust defines it (the time of request floor(0.95 n) + 1, in order) is above
        the limit: it is when no more than 95% of the requests are within it. In integers, as 0.95 * n is
        not exact in floats."""
        return 100 * (self.requests - self.over_limit) <= 95 * self.requests


@dataclass(frozen=True)
class RunTotals:
    requests: int
    failures: int
    # endpoint -> its requests against the p95 limit: the limit holds for each (a fast endpoint's
    # requests must not hide a slow one's)
    endpoints: Mapping[str, EndpointLatency] = field(default_factory=dict)

    @property
    def fail_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def violations(totals: RunTotals, limits: Thresholds) -> list[str]:
    """Why the run fails its limits (empty when it passes)."""
    problems = []
    if totals.requests < limits.min_requests:
        problems.append(f"{totals.requests} requests, fewer than {limits.min_requests}")
    if totals.requests and totals.fail_ratio > limits.max_fail_ratio:
        problems.append(
            f"failure ratio {totals.fail_ratio:.4f} ({totals.failures}/{totals.requests}) "
            f"above {limits.max_fail_ratio}"
        )
    if limits.max_p95_ms is not None:
        for name, latency in sorted(totals.endpoints.items()):
            if latency.requests and latency.p95_above_limit:
                problems.append(
                    f"p95 of {name} above {limits.max_p95_ms:g} ms: {latency.over_limit} of"
                    f" {latency.requests} requests took longer (locust's p95, of rounded times:"
                    f" {latency.p95_ms:.0f} ms)"
                )
    return problems
