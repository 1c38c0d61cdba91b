"""Overload with locust at 10x the concurrency that saturates the service: requests beyond the
admission bound get 503 + Retry-After fast, accepted requests keep a bounded latency, memory stays
flat, and the service answers normally as soon as the load stops."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from loadtests.launch import Scenario, run_locust
from service.settings import CPU_COUNT
from tests.conftest import LiveServer, metric

MAX_PENDING = 4
QUEUE_TIMEOUT_S = 5.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_overload_is_refused_fast_and_the_service_recovers(
    start_server: Callable[..., LiveServer], images: Path, tmp_path: Path
) -> None:
    server = start_server(
        max_pending=str(MAX_PENDING), queue_timeout_s=str(QUEUE_TIMEOUT_S), warm_models='["mobilenet_v2"]'
    )
    only_classify = ("--mva-classify-weight", "1", "--mva-detect-weight", "0")
    # capacity: as many clients as cores saturate the pool (1 thread per inference by default)
    capacity = run_locust(
        server.url,
        Scenario(users=CPU_COUNT, spawn_rate=CPU_COUNT, run_time="5s", images=images, extra=only_classify),
        tmp_path / "capacity",
    )
    assert capacity.exit_code == 0 and capacity.total.failures == 0
    rss_before = rss_mb(server.process.pid)

    overload = run_locust(
        server.url,
        Scenario(
            users=10 * CPU_COUNT,
            spawn_rate=10 * CPU_COUNT,
            run_time="10s",
            images=images,
            max_fail_ratio=0.0,
            extra=(*only_classify, "--mva-overload-ok"),
        ),
        tmp_path / "overload",
    )
    rss_after = rss_mb(server.process.pid)
    accepted, rejected = overload.stats["/classify"], overload.stats.get("/classify [503]")
    print(f"capacity {capacity.total.rps:.1f} req/s; overload {accepted} / {rejected}")
    print(f"RSS {rss_before:.0f} -> {rss_after:.0f} MB")
    assert overload.exit_code == 0 and overload.total.failures == 0  # only 200s with right answers, or 503s
    assert rejected is not None and rejected.requests > 0
    assert accepted.requests > 0
    assert rejected.p50_ms < accepted.p50_ms  # refusing is cheaper than serving
    assert accepted.p99_ms < QUEUE_TIMEOUT_S * 1000  # an accepted request runs within the queue timeout
    assert rss_after - rss_before < 50  # no growth with the load

    with server.client() as client:  # recovers at once
        # once the requests the load left admitted (at most MAX_PENDING, whose clients locust dropped as it
        # stopped) have ended: one still running would hold a core, and this request's queue time with it
        deadline = time.monotonic() + 30
        while metric(client.get("/metrics").text, "mva_queue_depth") > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(client.get("/metrics").text, "mva_queue_depth") == 0
        response = client.post("/classify", files={"image": (images / "grace_hopper.bmp").read_bytes()})
        assert response.status_code == 200
        timing = response.json()["timing"]
        assert timing["queue"] < timing["inference"]
    assert httpx.get(f"{server.url}/readyz").status_code == 200
