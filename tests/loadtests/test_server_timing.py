from __future__ import annotations

from loadtests.server_timing import StageTimes, bucket


def test_buckets_keep_short_times_exact_to_a_tenth() -> None:
    assert [bucket(ms) for ms in (0.04, 0.26, 5.44, 9.96, 12.4, 99.4, 123.0, 1234.0)] == [
        0, 3, 54, 100, 120, 990, 1200, 12300,
    ]  # fmt: skip


def test_percentiles_per_route_and_stage() -> None:
    times = StageTimes()
    for i in range(100):
        times.add("/classify", {"queue": i / 10, "inference": 5.0, "total": 6.0 + i / 10})
    times.add("/classify", {"error": {"code": "x"}})  # not a figure: skipped
    times.add("/detect", None)  # an answer without timing
    figures = times.percentiles()
    assert list(figures) == ["/classify"]
    queue = figures["/classify"]["queue"]
    assert queue["count"] == 100
    assert (queue["p50_ms"], queue["p95_ms"], queue["p99_ms"]) == (4.9, 9.4, 9.8)
    assert figures["/classify"]["inference"]["p99_ms"] == 5.0
    assert "error" not in figures["/classify"]


def test_workers_drain_and_the_master_merges() -> None:
    worker_a, worker_b, master = StageTimes(), StageTimes(), StageTimes()
    for _ in range(3):
        worker_a.add("/detect", {"inference": 1.2})
    worker_b.add("/detect", {"inference": 2.0})
    worker_b.add("/classify", {"inference": 5.0})
    # what msgpack may deliver: the bucket keys as strings
    shipped_b = {
        route: {stage: {str(k): n for k, n in counts.items()} for stage, counts in stages.items()}
        for route, stages in worker_b.drain().items()
    }
    master.merge(worker_a.drain())
    master.merge(shipped_b)
    assert worker_a.drain() == {} and worker_b.drain() == {}  # each share is sent once
    merged = master.percentiles()
    assert merged["/detect"]["inference"] == {"count": 4, "p50_ms": 1.2, "p95_ms": 2.0, "p99_ms": 2.0}
    assert merged["/classify"]["inference"]["count"] == 1
