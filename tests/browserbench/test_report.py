"""The report's arithmetic: which rows give which ratio, and the sizing from time per request."""

from __future__ import annotations

from typing import Any

from service.browserbench.report import deployment, markdown, summarize


def _row(
    side: str,
    config: dict[str, Any],
    inference: float,
    total: float,
    server_total: float = 0.0,
    upload: tuple[str, int, float] = ("original", 900_000, 0.0),
) -> dict:
    sample = {"inferenceMs": inference, "totalMs": total}
    row: dict[str, Any] = {"side": side, "config": config}
    if side == "server":
        mode, size, shrink = upload
        sample |= {"serverTotalMs": server_total, "networkMs": total - server_total - shrink}
        sample |= {"uploadBytes": size, "shrinkMs": shrink}
        row["upload"] = mode
    return row | {"samples": [sample] * 5}


def _bench() -> dict[str, Any]:
    wasm = {(False, 1): 120.0, (False, 2): 70.0, (True, 1): 40.0, (True, 2): 25.0}
    rows = [
        _row("browser", {"backend": "wasm", "simd": s, "threads": t}, ms, ms + 5)
        for (s, t), ms in wasm.items()
    ]
    rows += [
        _row("server", {"engine": "onnxruntime", "threads": 1}, 8.0, 30.0, 20.0),
        _row("server", {"engine": "onnxruntime", "threads": 2}, 5.0, 27.0, 17.0),
        _row("server", {"engine": "litert", "simd": "on", "threads": 1}, 7.0, 29.0, 19.0),
        _row("server", {"engine": "litert", "simd": "off", "threads": 1}, 130.0, 150.0, 140.0),
        # the first configuration again, the picture shrunk in the browser first
        _row("server", {"engine": "onnxruntime", "threads": 1}, 8.0, 14.0, 9.0, ("shrunk", 16_384, 2.0)),
    ]
    return {"job": {"name": "m"}, "picture": {"width": 512, "height": 600}, "iterations": 5, "rows": rows}


def test_ratios_come_from_the_matching_rows() -> None:
    s = summarize(_bench())
    assert s["simd_speedup_browser"] == 3.0
    assert s["thread_speedup_browser"] == 1.6
    assert s["wasm_over_native_1_thread"] == 5.0
    assert s["thread_speedup_native_ort"] == 1.6
    assert s["simd_speedup_native_litert"] == 130.0 / 7.0
    assert s["api_network_ms"] == 10.0 and s["api_network_share"] == 10.0 / 30.0
    # the original upload's row, not the shrunk one after it with the same configuration
    assert s["api_round_trip_ms"] == 30.0 and s["api_upload_bytes"] == 900_000
    assert (s["shrunk_total_ms"], s["shrunk_shrink_ms"], s["shrunk_upload_bytes"]) == (14.0, 2.0, 16_384)


def test_sizing_uses_time_per_request_and_the_utilization_cap() -> None:
    d = deployment(summarize(_bench()), target_p99_ms=100.0)
    assert d["throughput_per_core_rps"] == 50.0  # 20 ms per request
    by_rate = {x["rate_rps"]: x for x in d["sizing"]}
    assert by_rate[50]["cores"] == 2  # 50 / (50 * 0.7) -> 1.43 -> 2
    assert by_rate[200] == {"rate_rps": 200, "cores": 6, "replicas": 3}
    assert d["target_met_unloaded"] is True


def test_a_round_trip_p99_needs_a_hundred_runs_and_fewer_give_their_maximum_by_name() -> None:
    """The p99 of 15 runs was the slowest of them, and the report called it a p99."""
    few, many = _bench(), _bench()
    for bench, runs in ((few, 15), (many, 200)):
        row = next(r for r in bench["rows"] if r["side"] == "server")  # onnxruntime 1 thread, original
        row["samples"] = [row["samples"][0] | {"totalMs": float(ms)} for ms in range(1, runs + 1)]
    d = deployment(summarize(few), target_p99_ms=100.0)
    assert (d["measured_round_trip_tail_ms"], d["measured_round_trip_tail"]) == (
        15.0,
        "max of 15 runs (too few for a p99)",
    )
    text = markdown([summarize(few)], [d], [])
    assert "unloaded round trip 15.0 ms, max of 15 runs (too few for a p99) (target p99 100 ms: met)" in text
    d = deployment(summarize(many), target_p99_ms=100.0)
    assert (d["measured_round_trip_tail_ms"], d["measured_round_trip_tail"]) == (198.0, "p99 of 200 runs")
    assert d["target_met_unloaded"] is False


def test_markdown_says_how_many_runs_each_figure_is_of() -> None:
    """The report's figures are medians of --iterations runs; the markdown did not say how many."""
    s = summarize(_bench())
    text = markdown([s], [deployment(s, 100.0)], [])
    assert text.startswith("Timed runs per configuration: 5, after an untimed first use;")


def test_markdown_names_every_claim() -> None:
    s = summarize(_bench())
    visitor = {"job": "m", "simd": True, "threads": 2, "bytes": 15e6}
    visitor |= {"by_kind": {"wasm": 10e6, "model": 4e6, "script": 5e5}}
    visitor |= {"time_to_first_result_ms": 3000.0, "link": "50/25 Mbit/s, 20 ms RTT", "compressed": False}
    text = markdown([s], [deployment(s, 100.0)], [visitor])
    for claim in ("TF.js 2020: SIMD", "threads on top of SIMD", "Wang et al. 2025"):
        assert claim in text
    assert "| m | 120.0 → 40.0 → 25.0 |" in text
    assert "| m | 512x600 | 879 → 16 | 20.0 → 9.0 | 30.0 → 14.0 (2.0) |" in text
    row = "| m | 50/25 Mbit/s, 20 ms RTT | identity (uncompressed) | 15.0 (10.0 / 4.0 / 0.50) | 3.0 s |"
    assert row in text


def test_a_configuration_that_did_not_run_as_asked_gives_no_figure() -> None:
    """Without cross-origin isolation onnxruntime-web quietly runs one thread (the page's `engine`
    says so by the binary it loaded): its "2 threads" row is a one-thread row, and a thread speedup
    from it would be a claim about threads that never ran."""
    bench = _bench()
    for row in bench["rows"]:
        if row["side"] == "browser":
            threads = 1 if row["config"]["threads"] == 2 else row["config"]["threads"]
            row["engine"] = {
                "threadsEffective": threads,
                "simdEffective": row["config"]["simd"],
                "crossOriginIsolated": False,
            }
    s = summarize(bench)
    assert s["thread_speedup_browser"] is None and s["simd_speedup_browser_2_threads"] is None
    assert s["browser_inference_ms"]["simd=on threads=2"] is None
    assert s["simd_speedup_browser"] == 3.0  # the one-thread rows ran as asked
    assert set(s["browser_not_as_asked"]) == {"simd=off threads=2", "simd=on threads=2"}
    text = markdown([s], [deployment(s, 100.0)], [])
    assert "| m | 120.0 → 40.0 → - |" in text
    assert "- m, wasm simd=on threads=2: ran 1 thread(s), SIMD on (crossOriginIsolated=False)" in text
    assert "threads on top of SIMD: 1.8-2.9x; measured m -" in text


def test_rows_that_ran_as_asked_are_all_kept() -> None:
    bench = _bench()
    for row in bench["rows"]:
        if row["side"] == "browser":
            c = row["config"]
            row["engine"] = {"threadsEffective": c["threads"], "simdEffective": c["simd"]}
    s = summarize(bench)
    assert s["browser_not_as_asked"] == {} and s["thread_speedup_browser"] == 1.6
    assert "did not run as asked" not in markdown([s], [deployment(s, 100.0)], [])


def test_a_failed_configuration_gives_no_figure_and_is_listed_with_its_error() -> None:
    """The page's failed row (its `error`, no samples): the ratios and the sizing come from the rows
    that ran ("-" for those that need it, as the network share), the markdown lists it, and a failed
    new visitor is a table row saying why."""
    bench = _bench()
    for row in bench["rows"]:
        if row["config"] in (
            {"backend": "wasm", "simd": True, "threads": 2},
            {"engine": "onnxruntime", "threads": 1},
        ):
            row |= {"label": f"{row['side']} asked", "error": "no answer |\nat all", "samples": []}
    s = summarize(bench)
    assert s["failed"] == [
        {"label": f"{side} asked", "error": "no answer |\nat all", "timed_runs_kept": 0}
        for side in ("browser", "server", "server")
    ]
    assert s["thread_speedup_browser"] is None and s["simd_speedup_browser"] == 3.0
    assert s["api_round_trip_ms"] is None and s["thread_speedup_native_ort"] is None
    d = deployment(s, target_p99_ms=100.0)
    assert d["sizing"] == [] and d["throughput_per_core_rps"] is None and d["target_met_unloaded"] is None
    visitor = {"job": "m", "link": "loopback", "compressed": True, "error": "wasm | failed"}
    text = markdown([s], [d], [visitor])
    # the failed round trip has no network share (it said 0%)
    assert text.splitlines()[4].endswith("| - (- / -) |")
    assert "- m, browser asked: no answer \\| at all" in text and text.count("- m, server asked: ") == 2
    assert (
        "- m: - per request → - per core; no sizing; unloaded round trip -, - (target p99 100 ms: -)" in text
    )
    assert "| m | loopback | brotli / gzip copies | failed: wasm \\| failed | - |" in text


def test_a_row_that_failed_after_some_runs_keeps_them_out_of_the_figures_and_says_how_many() -> None:
    """web/src/bench.mjs keeps the runs timed before a later call failed: the row lists them as kept,
    and its medians (of fewer runs than the report's count) give no figure."""
    bench = _bench()
    row = next(r for r in bench["rows"] if r["config"] == {"engine": "onnxruntime", "threads": 2})
    row |= {"label": "server 2", "error": "timed run 3 of 5: HTTP 502", "samples": row["samples"][:2]}
    s = summarize(bench)
    assert s["failed"] == [{"label": "server 2", "error": "timed run 3 of 5: HTTP 502", "timed_runs_kept": 2}]
    assert s["server_inference_ms"]["ort2"] is None and s["thread_speedup_native_ort"] is None
    text = markdown([s], [deployment(s, 100.0)], [])
    kept = "(2 timed run(s) before it in browser.json's raw rows, not in the figures)"
    assert f"- m, server 2: timed run 3 of 5: HTTP 502 {kept}" in text
