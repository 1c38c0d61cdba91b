from __future__ import annotations

from loadtests.slow_requests import SlowRequests


def test_only_requests_above_the_limit_count() -> None:
    slow = SlowRequests()
    for ms in (999.9, 1000.0, 1000.01, 1049.0):
        slow.add("/classify", ms, 1000.0)
    slow.add("/detect", 12.0, 1000.0)
    assert slow.counts == {"/classify": 2}


def test_workers_drain_and_the_master_merges() -> None:
    worker_a, worker_b, master = SlowRequests(), SlowRequests(), SlowRequests()
    worker_a.add("/classify", 120.0, 100.0)
    worker_b.add("/classify", 130.0, 100.0)
    worker_b.add("/detect", 101.0, 100.0)
    master.merge(worker_a.drain())
    master.merge(worker_b.drain())
    assert worker_a.drain() == {} and worker_b.drain() == {}  # each share is sent once
    assert master.counts == {"/classify": 2, "/detect": 1}
