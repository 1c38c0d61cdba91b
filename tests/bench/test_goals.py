"""`mobile-vision-api bench-goals` for real, CI-sized (no grid): every goal gets a measured figure."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_goals_measures_every_goal_and_writes_goals_json(goals_out: Path) -> None:
    report = json.loads((goals_out / "goals.json").read_text())
    assert report["decode_preprocess"]["image"] == "cat_1080p.jpg"
    assert report["decode_preprocess"]["p50_ms"] > 0
    overhead = report["http_overhead"]
    assert overhead["overhead_ms"] == round(overhead["http"]["p50_ms"] - overhead["pipeline"]["p50_ms"], 3)
    for name in ("httpx", "floor"):
        figure = overhead[name]["p50_ms"] - overhead["pipeline"]["p50_ms"]
        assert overhead[f"{name}_overhead_ms"] == round(figure, 3)
    assert overhead["server_timing_p50_ms"]["inference"] > 0
    assert overhead["floor_no_work_ms"] > 0 and overhead["busy_wait_ms"] > 0
    spinning = overhead["http_spinning_client"]["p50_ms"] - overhead["pipeline"]["p50_ms"]
    assert overhead["spinning_client_overhead_ms"] == round(spinning, 3)
    # the same request without HTTP: our handler alone, then the whole app (service/bench/asgi.py)
    handler, whole = overhead["asgi_handler"]["p50_ms"], overhead["asgi_app"]["p50_ms"]
    assert overhead["asgi_handler_overhead_ms"] == round(handler - overhead["pipeline"]["p50_ms"], 3)
    assert overhead["asgi_app_over_handler_ms"] == round(whole - handler, 3)
    assert overhead["http_over_asgi_app_ms"] == round(overhead["http"]["p50_ms"] - whole, 3)
    assert overhead["floor_busy_wait_excess_ms"] == round(
        overhead["floor_busy_wait"]["p50_ms"] - overhead["busy_wait_ms"], 3
    )
    saturation = report["saturation"]
    assert saturation["default"]["failures"] == {} and saturation["default"]["ok"] > 0
    assert saturation["best_engine"].startswith("engine ")
    assert saturation["default_vs_engine"] > 0
    assert set(report["loads"]) == {saturation["best_engine"], saturation["best_server"]} | {
        n for n in report["loads"] if n.startswith(("engine ", "pipeline "))
    }
    assert saturation["default_vs_pipeline"] > 0
    assert saturation["default"]["rss_mb"] > 50  # the server's memory after the load
    cpu = saturation["server_cpu"]  # where a request's CPU went, by thread (Linux /proc)
    assert cpu["event_loop_ms_per_request"] > 0 and cpu["other_threads_ms_per_request"] > 0
    assert 0 < cpu["server_busy_cores"] <= os.cpu_count() + 0.1  # clock-tick granularity
    rss = report["rss"]
    assert rss["failed"] == 0
    assert [n for n, _ in rss["rss_mb"]] == list(range(0, 41, 4))
    assert all(mb > 0 for _, mb in rss["rss_mb"])
    assert "grid" not in report
    weights = report["int8_weights"]  # both int8 files timed side by side (no timing claim here)
    assert set(weights["p50_ms"]) == {"int8.onnx", "int8-signed.onnx"}
    assert all(ms > 0 for ms in weights["p50_ms"].values()) and weights["signed_speedup"] > 0
    assert "not found" in report["auto_vs_bench"]["note"]  # no bench.json in a fresh folder
