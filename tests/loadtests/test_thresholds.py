from __future__ import annotations

from loadtests.thresholds import RunTotals, Thresholds, violations


def test_passes_within_limits() -> None:
    assert violations(RunTotals(99, 0, 12.0), Thresholds(max_fail_ratio=0.0, max_p95_ms=50)) == []


def test_failures_within_the_allowed_ratio_pass() -> None:
    assert violations(RunTotals(1000, 5, 12.0), Thresholds(max_fail_ratio=0.01)) == []


def test_failure_ratio_above_limit() -> None:
    assert violations(RunTotals(10, 2, 12.0), Thresholds(max_fail_ratio=0.1)) == [
        "failure ratio 0.2000 (2/10) above 0.1"
    ]


def test_p95_above_limit() -> None:
    assert violations(RunTotals(100, 0, 500.0), Thresholds(max_p95_ms=100)) == ["p95 500 ms above 100 ms"]


def test_an_empty_run_fails() -> None:
    assert violations(RunTotals(0, 0, 0.0), Thresholds()) == ["0 requests, fewer than 1"]


def test_p95_is_limited_per_endpoint() -> None:
    """3 fast /detect answers to 1 slow /classify one keep the run's p95 low: /classify still fails."""
    totals = RunTotals(400, 0, 40.0, {"/classify": 60.0, "/detect": 10.0})
    assert violations(totals, Thresholds(max_p95_ms=50)) == ["p95 of /classify 60 ms above 50 ms"]
    assert violations(totals, Thresholds(max_p95_ms=60)) == []
