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
