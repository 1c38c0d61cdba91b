"""Pass/fail of a whole run: failure ratio and p95 limits on its totals. (Plain numbers in, so that
importing this does not import locust, whose gevent patching must stay out of other processes.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_fail_ratio: float = 0.01
    max_p95_ms: float | None = None  # None: no latency limit
    min_requests: int = 1  # a run that sent nothing proves nothing


@dataclass(frozen=True)
class RunTotals:
    requests: int
    failures: int
    p95_ms: float

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
    if limits.max_p95_ms is not None and totals.requests and totals.p95_ms > limits.max_p95_ms:
        problems.append(f"p95 {totals.p95_ms:.0f} ms above {limits.max_p95_ms:.0f} ms")
    return problems
