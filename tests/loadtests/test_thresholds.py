from __future__ import annotations

from loadtests.thresholds import EndpointLatency, RunTotals, Thresholds, violations


def test_passes_within_limits() -> None:
    totals = RunTotals(99, 0, {"/classify": EndpointLatency(99, 0, 12.0)})
    assert violations(totals, Thresholds(max_fail_ratio=0.0, max_p95_ms=50)) == []


def test_failures_within_the_allowed_ratio_pass() -> None:
    assert violations(RunTotals(1000, 5), Thresholds(max_fail_ratio=0.01)) == []


def test_failure_ratio_above_limit() -> None:
    assert violations(RunTotals(10, 2), Thresholds(max_fail_ratio=0.1)) == [
        "failure ratio 0.2000 (2/10) above 0.1"
    ]


def test_p95_above_limit() -> None:
    totals = RunTotals(100, 0, {"/classify": EndpointLatency(100, 30, 500.0)})
    assert violations(totals, Thresholds(max_p95_ms=100)) == [
        "p95 of /classify above 100 ms: 30 of 100 requests took longer"
        " (locust's p95, of rounded times: 500 ms)"
    ]


def test_an_empty_run_fails() -> None:
    assert violations(RunTotals(0, 0), Thresholds()) == ["0 requests, fewer than 1"]


def test_p95_is_limited_per_endpoint() -> None:
    """3 fast /detect answers to 1 slow /classify one keep the run's p95 low: /classify still fails."""
    totals = RunTotals(
        400, 0, {"/classify": EndpointLatency(100, 50, 60.0), "/detect": EndpointLatency(300, 0, 10.0)}
    )
    [problem] = violations(totals, Thresholds(max_p95_ms=50))
    assert problem.startswith("p95 of /classify above 50 ms: 50 of 100")


def test_the_count_above_the_limit_decides_not_locusts_rounded_p95() -> None:
    """Locust's p95 is the time of request floor(0.95 n) + 1 in order: above the limit as soon as 5% of
    the requests are, whatever its rounded figure says (1049 ms kept as 1000, 996 ms as 1000)."""
    limit = Thresholds(max_p95_ms=1000)
    above = RunTotals(100, 0, {"/classify": EndpointLatency(100, 5, 1000.0)})
    assert len(violations(above, limit)) == 1
    within = RunTotals(100, 0, {"/classify": EndpointLatency(100, 4, 1000.0)})
    assert violations(within, Thresholds(max_p95_ms=998)) == []
    assert violations(within, limit) == []
    # 20 requests: request 20, the slowest, is the p95
    one_of_20 = RunTotals(20, 0, {"/detect": EndpointLatency(20, 1, 1000.0)})
    assert len(violations(one_of_20, limit)) == 1
