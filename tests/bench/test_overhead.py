"""The 1-client overhead figures of a real CI-sized bench-goals run: each split figure is the
difference of the two measurements it names."""

from __future__ import annotations

import json
from pathlib import Path


def test_overhead_and_its_split_are_differences_of_measured_p50s(goals_out: Path) -> None:
    overhead = json.loads((goals_out / "goals.json").read_text())["http_overhead"]
    pipeline = overhead["pipeline"]["p50_ms"]
    assert overhead["cell"] == "onnxruntime int8 t1"  # what a request without parameters runs
    assert overhead["overhead_ms"] == round(overhead["http"]["p50_ms"] - pipeline, 3)
    for name in ("httpx", "floor"):
        assert overhead[f"{name}_overhead_ms"] == round(overhead[name]["p50_ms"] - pipeline, 3)
    assert overhead["server_timing_p50_ms"]["inference"] > 0
    assert overhead["floor_no_work_ms"] > 0 and overhead["busy_wait_ms"] > 0
    spinning = overhead["http_spinning_client"]["p50_ms"] - pipeline
    assert overhead["spinning_client_overhead_ms"] == round(spinning, 3)
    # the same request without HTTP: our handler alone, then the whole app (service/bench/asgi.py)
    handler, whole = overhead["asgi_handler"]["p50_ms"], overhead["asgi_app"]["p50_ms"]
    assert overhead["asgi_handler_overhead_ms"] == round(handler - pipeline, 3)
    assert overhead["asgi_app_over_handler_ms"] == round(whole - handler, 3)
    assert overhead["http_over_asgi_app_ms"] == round(overhead["http"]["p50_ms"] - whole, 3)
    assert overhead["floor_busy_wait_excess_ms"] == round(
        overhead["floor_busy_wait"]["p50_ms"] - overhead["busy_wait_ms"], 3
    )
    assert all(overhead[name]["runs"] == 6 * 40 for name in ("pipeline", "http", "floor"))
    assert not any(name.endswith(("asyncio_h11_overhead_ms", "access_log_overhead_ms")) for name in overhead)
