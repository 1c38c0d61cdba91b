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
class RunTotals:
    requests: int
    failures: int
    p95_ms: float  # of all requests: the limit is checked on it only when no endpoint is given
    # endpoint -> its p95: the limit holds for each (a fast endpoint's requests must not hide a slow one's)
    endpoint_p95_ms: Mapping[str, float] = field(default_factory=dict)

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
    if limits.max_p95_ms is not None and totals.requests:
        limit = limits.max_p95_ms
        if totals.endpoint_p95_ms:
            for name, p95 in sorted(totals.endpoint_p95_ms.items()):
                if p95 > limit:
                    problems.append(f"p95 of {name} {p95:.0f} ms above {limit:.0f} ms")
        elif totals.p95_ms > limit:
            problems.append(f"p95 {totals.p95_ms:.0f} ms above {limit:.0f} ms")
    return problems
