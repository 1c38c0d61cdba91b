"""Browser rows and server rows (both measured by the page, same picture, same moment) -> the ratios
the published claims talk about, and the deployment numbers. Ratios only: the CPU is shared."""

from __future__ import annotations

import math
from statistics import median
from typing import Any

CLAIMS = {
    "simd": ("TF.js 2020: SIMD over plain wasm", 1.7, 4.5),
    "threads": ("TF.js 2020: threads on top of SIMD", 1.8, 2.9),
    "native": ("Wang et al. 2025: in-browser vs native, CPU (average)", 16.9, 16.9),
}
UTILIZATION_CAP = 0.7  # per-core busy fraction that keeps queueing delay small next to the service time
CORES_PER_REPLICA = 2  # the compose/Kubernetes replica shape (2 CPUs each)
RATES = (10, 50, 200)  # requests per second to size for
P99_MIN_RUNS = 100  # fewer samples have no p99 of their own: the nearest rank is the maximum


def _row(bench: dict[str, Any], side: str, upload: str = "original", **config: Any) -> dict[str, Any] | None:
    """The row of `side` with this configuration; server rows also by upload (the picture as picked, or
    shrunk in the browser first: web/src/upload.mjs; reports from before that have only the former).
    None too when that configuration failed: its figures are none, and no ratio comes from it."""
    for row in bench["rows"]:
        if (
            not row.get("error")
            and row["side"] == side
            and (side == "browser" or row.get("upload", "original") == upload)
            and all(row["config"].get(k) == v for k, v in config.items())
        ):
            return row
    return None


def _not_as_asked(engine: dict[str, Any] | None, threads_asked: int, simd_asked: bool) -> str | None:
    """How a browser run went when that is not what was asked, from the binary onnxruntime-web loaded
    (the page's `engine`): without cross-origin isolation it quietly runs one thread, without wasm
    SIMD the plain binary. None when it ran as asked (or says nothing, as reports before it did)."""
    engine = engine or {}
    threads, simd = engine.get("threadsEffective"), engine.get("simdEffective")
    if (threads is None or threads == threads_asked) and (simd is None or simd == simd_asked):
        return None
    return (
        f"ran {threads} thread(s), SIMD {'on' if simd else 'off'} "
        f"(crossOriginIsolated={engine.get('crossOriginIsolated')})"
    )


def _median(row: dict[str, Any] | None, key: str) -> float | None:
    if row is None:
        return None
    values = [s[key] for s in row["samples"] if s.get(key) is not None]
    return median(values) if values else None


def _tail(row: dict[str, Any], key: str) -> tuple[float, str]:
    """The p99 of the row's samples, or their maximum when there are too few for a p99, and which of
    the two it is: a "p99" of 15 runs is the slowest run."""
    values = sorted(s[key] for s in row["samples"])
    if len(values) < P99_MIN_RUNS:
        return values[-1], f"max of {len(values)} runs (too few for a p99)"
    return values[math.ceil(0.99 * len(values)) - 1], f"p99 of {len(values)} runs"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(bench: dict[str, Any]) -> dict[str, Any]:
    wasm = {
        (simd, threads): _row(bench, "browser", backend="wasm", simd=simd, threads=threads)
        for simd in (False, True)
        for threads in (1, 2)
    }
    # a row that did not run its configuration gives no figure for it: no speedup from a thread that
    # never started
    not_as_asked = {}
    for (simd, threads), row in wasm.items():
        how = _not_as_asked(row.get("engine"), threads, simd) if row is not None else None
        if how is not None:
            not_as_asked[f"simd={'on' if simd else 'off'} threads={threads}"] = how
            wasm[(simd, threads)] = None
    ort1 = _row(bench, "server", engine="onnxruntime", threads=1)
    shrunk = _row(bench, "server", upload="shrunk", engine="onnxruntime", threads=1)
    ort2 = _row(bench, "server", engine="onnxruntime", threads=2)
    xnn = _row(bench, "server", engine="litert", simd="on")
    ref = _row(bench, "server", engine="litert", simd="off")
    inf = {k: _median(v, "inferenceMs") for k, v in wasm.items()}
    server_inf = {
        name: _median(row, "inferenceMs")
        for name, row in (("ort1", ort1), ("ort2", ort2), ("xnn", xnn), ("ref", ref))
    }
    network = _median(ort1, "networkMs")
    round_trip = _median(ort1, "totalMs")
    service_ms = _median(ort1, "serverTotalMs")
    tail_ms, tail = _tail(ort1, "totalMs") if ort1 else (None, None)
    return {
        "job": bench["job"],
        "picture": bench["picture"],
        "iterations": bench["iterations"],
        "browser_inference_ms": {f"simd={'on' if s else 'off'} threads={t}": v for (s, t), v in inf.items()},
        "browser_total_ms": {
            f"simd={'on' if s else 'off'} threads={t}": _median(r, "totalMs") for (s, t), r in wasm.items()
        },
        "server_inference_ms": server_inf,
        "simd_speedup_browser": _ratio(inf[(False, 1)], inf[(True, 1)]),
        "simd_speedup_browser_2_threads": _ratio(inf[(False, 2)], inf[(True, 2)]),
        "simd_speedup_native_litert": _ratio(server_inf["ref"], server_inf["xnn"]),
        "thread_speedup_browser": _ratio(inf[(True, 1)], inf[(True, 2)]),
        "thread_speedup_native_ort": _ratio(server_inf["ort1"], server_inf["ort2"]),
        "wasm_over_native_1_thread": _ratio(inf[(True, 1)], server_inf["ort1"]),
        "wasm_plain_over_native": _ratio(inf[(False, 1)], server_inf["ort1"]),
        "api_round_trip_ms": round_trip,
        "api_server_total_ms": service_ms,
        "api_network_ms": network,
        "api_network_share": _ratio(network, round_trip),
        "api_round_trip_tail_ms": tail_ms,
        "api_round_trip_tail": tail,  # "p99 of N runs", or "max of N runs (...)" under P99_MIN_RUNS
        "api_upload_bytes": _median(ort1, "uploadBytes"),
        "shrunk_upload_bytes": _median(shrunk, "uploadBytes"),
        "shrunk_total_ms": _median(shrunk, "totalMs"),
        "shrunk_shrink_ms": _median(shrunk, "shrinkMs"),
        "shrunk_server_total_ms": _median(shrunk, "serverTotalMs"),
        "browser_best_total_ms": min(
            (v for v in (_median(r, "totalMs") for r in wasm.values()) if v is not None), default=None
        ),
        "browser_not_as_asked": not_as_asked,
        "failed": failed_rows(bench),
        # the figures stand; the picture of a run beside them was not taken (run._screenshot)
        "screenshot_error": bench.get("screenshot_error"),
    }


def failed_rows(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """The configurations the page could not measure, and why (web/src/bench.mjs: a row's `error`,
    naming the call that failed), with how many timed runs it kept from before that call: they stay in
    the raw row, but a row of fewer runs than the others gives no figure. A benchmark that did not
    finish at all (run.unfinished_benchmark) is one such entry, "page benchmark"."""
    rows = [
        {"label": row["label"], "error": row["error"], "timed_runs_kept": len(row["samples"])}
        for row in bench["rows"]
        if row.get("error")
    ]
    if bench.get("error"):
        rows.insert(0, {"label": "page benchmark", "error": bench["error"], "timed_runs_kept": 0})
    return rows


def add_lab(summary: dict[str, Any], lab: dict[str, Any] | None) -> dict[str, Any]:
    """The latency lab's in-process p50s beside the API-measured ones, and wasm over that native."""
    native = (lab or {}).get("onnxruntime t1")
    wasm = summary["browser_inference_ms"]["simd=on threads=1"]
    return {**summary, "lab_native_p50_ms": lab, "wasm_over_lab_native_1_thread": _ratio(wasm, native)}


def deployment(summary: dict[str, Any], target_p99_ms: float) -> dict[str, Any]:
    """Cores and replicas per request rate, from the server's own time per request on one thread."""
    service_ms = summary["api_server_total_ms"]
    tail_ms = summary["api_round_trip_tail_ms"]
    # None when onnxruntime 1 thread failed: no time per request to size from
    per_core_rps = 1000.0 / service_ms if service_ms else None
    sizing = []
    if per_core_rps is not None:
        for rate in RATES:
            cores = math.ceil(rate / (per_core_rps * UTILIZATION_CAP))
            replicas = math.ceil(cores / CORES_PER_REPLICA)
            sizing.append({"rate_rps": rate, "cores": cores, "replicas": replicas})
    return {
        "service_ms_per_request_1_thread": service_ms,
        "throughput_per_core_rps": per_core_rps,
        "target_p99_ms": target_p99_ms,
        "measured_round_trip_tail_ms": summary["api_round_trip_tail_ms"],
        "measured_round_trip_tail": summary["api_round_trip_tail"],
        # a maximum at or under the target holds the p99 there too
        "target_met_unloaded": tail_ms <= target_p99_ms if tail_ms is not None else None,
        "sizing": sizing,
    }


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _one_line(text: str) -> str:
    """An error as one line that keeps a markdown table whole (no line breaks, no bare `|`)."""
    return " ".join(text.split()).replace("|", "\\|")


def _runs(summaries: list[dict[str, Any]]) -> str:
    """How many timed runs each figure is of (the page's first use of a configuration is not timed)."""
    counts = sorted({s["iterations"] for s in summaries})
    return "/".join(str(n) for n in counts) or "-"


def _kib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:.0f}"


def failed_configurations(summaries: list[dict[str, Any]]) -> list[str]:
    """The page's configurations that failed, one line each: job, configuration, the error."""
    return [
        f"{s['job']['name']}, {f['label']}: {_one_line(f['error'])}{_kept(f['timed_runs_kept'])}"
        for s in summaries
        for f in s["failed"]
    ]


def failed_screenshots(summaries: list[dict[str, Any]]) -> list[str]:
    """The page's pictures of a run that were not taken, one line each: job, playwright's error."""
    return [
        f"{s['job']['name']}, {_one_line(s['screenshot_error'])}"
        for s in summaries
        if s.get("screenshot_error")
    ]


def _kept(runs: int) -> str:
    return f" ({runs} timed run(s) before it in browser.json's raw rows, not in the figures)" if runs else ""


def markdown(
    summaries: list[dict[str, Any]], deployments: list[dict[str, Any]], visitors: list[dict[str, Any]]
) -> str:
    lines = [
        f"Timed runs per configuration: {_runs(summaries)}, after an untimed first use; figures are their "
        "medians.",
        "",
        "| model | browser wasm ms (SIMD off → on → on+2 threads) | server ORT ms (1 / 2 threads) "
        "| SIMD speedup (browser / native LiteRT) | thread speedup (browser / native) "
        "| wasm ÷ native (SIMD, 1 thread) | API round trip (server / network share) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        b = s["browser_inference_ms"]
        share = s["api_network_share"]  # None when onnxruntime 1 thread failed: no share, not 0%
        lines.append(
            f"| {s['job']['name']} "
            f"| {_fmt(b['simd=off threads=1'])} → {_fmt(b['simd=on threads=1'])} "
            f"→ {_fmt(b['simd=on threads=2'])} "
            f"| {_fmt(s['server_inference_ms']['ort1'])} / {_fmt(s['server_inference_ms']['ort2'])} "
            f"| {_fmt(s['simd_speedup_browser'], 'x')} / {_fmt(s['simd_speedup_native_litert'], 'x')} "
            f"| {_fmt(s['thread_speedup_browser'], 'x')} / {_fmt(s['thread_speedup_native_ort'], 'x')} "
            f"| {_fmt(s['wasm_over_native_1_thread'], 'x')} "
            f"| {_fmt(s['api_round_trip_ms'], ' ms')} ({_fmt(s['api_server_total_ms'], ' ms')} / "
            f"{_fmt(None if share is None else 100 * share, '%', 0)}) |"
        )
    not_as_asked = [
        f"- {s['job']['name']}, wasm {config}: {how}"
        for s in summaries
        for config, how in (s.get("browser_not_as_asked") or {}).items()
    ]
    if not_as_asked:
        lines += ["", "Browser configurations that did not run as asked (their figures are left out: -):", ""]
        lines += not_as_asked
    failed = failed_configurations(summaries)
    if failed:
        lines += ["", "Failed, no figures (the ratios come from the configurations that ran):", ""]
        lines += [f"- {line}" for line in failed]
    shots = failed_screenshots(summaries)
    if shots:
        lines += ["", "Pictures of a run not saved (page-<model>.png; the figures stand):", ""]
        lines += [f"- {line}" for line in shots]
    lines += ["", "Published claims, against the measured ratios:", ""]
    for key, (text, lo, hi) in CLAIMS.items():
        field = {
            "simd": "simd_speedup_browser",
            "threads": "thread_speedup_browser",
            "native": "wasm_over_native_1_thread",
        }[key]
        measured = ", ".join(f"{s['job']['name']} {_fmt(s[field], 'x')}" for s in summaries)
        claim = f"{lo}x" if lo == hi else f"{lo}-{hi}x"
        lines.append(f"- {text}: {claim}; measured {measured}")
    with_lab = [s for s in summaries if s.get("wasm_over_lab_native_1_thread") is not None]
    if with_lab:
        measured = ", ".join(
            f"{s['job']['name']} {_fmt(s['wasm_over_lab_native_1_thread'], 'x')}" for s in with_lab
        )
        lines.append(f"- wasm (SIMD, 1 thread) over the latency lab's in-process onnxruntime p50: {measured}")
    shrunk = [s for s in summaries if s.get("shrunk_total_ms") is not None]
    if shrunk:
        lines += [
            "",
            "Server path, the picture as picked against a JPEG shrunk in the browser first to the smallest "
            "size that keeps the model input whole (onnxruntime 1 thread; medians; the shrunk total "
            "includes shrinking):",
            "",
            "| model | picture | upload KiB | server total ms | total ms (shrink) |",
            "|---|---|---|---|---|",
        ]
        for s in shrunk:
            lines.append(
                f"| {s['job']['name']} | {s['picture']['width']}x{s['picture']['height']} "
                f"| {_kib(s['api_upload_bytes'])} → {_kib(s['shrunk_upload_bytes'])} "
                f"| {_fmt(s['api_server_total_ms'])} → {_fmt(s['shrunk_server_total_ms'])} "
                f"| {_fmt(s['api_round_trip_ms'])} → {_fmt(s['shrunk_total_ms'])} "
                f"({_fmt(s['shrunk_shrink_ms'])}) |"
            )
    lines += ["", "Deployment (server path, onnxruntime 1 thread per request):", ""]
    for s, d in zip(summaries, deployments, strict=True):
        sizing = "; ".join(
            f"{x['rate_rps']} req/s → {x['cores']} cores = {x['replicas']} replicas" for x in d["sizing"]
        )
        met = {True: "met", False: "NOT met", None: "-"}[d["target_met_unloaded"]]
        lines.append(
            f"- {s['job']['name']}: {_fmt(d['service_ms_per_request_1_thread'], ' ms')} per request → "
            f"{_fmt(d['throughput_per_core_rps'], ' req/s', 0)} per core; {sizing or 'no sizing'}; "
            f"unloaded round trip {_fmt(d['measured_round_trip_tail_ms'], ' ms')}, "
            f"{d['measured_round_trip_tail'] or '-'} (target p99 {d['target_p99_ms']:.0f} ms: {met})"
        )
    lines += [
        "",
        "Browser path, a new visitor (empty cache, SIMD + 2 threads; bytes as sent, i.e. compressed where "
        "the service sent its brotli / gzip copy):",
        "",
        "| model | link | encoding | MB sent (wasm / model / scripts) | first result after navigation |",
        "|---|---|---|---|---|",
    ]
    for v in visitors:
        encoding = "brotli / gzip copies" if v.get("compressed", False) else "identity (uncompressed)"
        if v.get("error"):
            why = _one_line(v["error"])
            lines.append(f"| {v['job']} | {v.get('link', 'loopback')} | {encoding} | failed: {why} | - |")
            continue
        kinds = v["by_kind"]
        # a visitor that ran another binary than SIMD + 2 threads: its bytes are that binary's
        how = _not_as_asked(v.get("engine"), v["threads"], v["simd"])
        model = f"{v['job']} ({how}, not as asked)" if how else v["job"]
        lines.append(
            f"| {model} | {v.get('link', 'loopback')} | {encoding} | "
            f"{v['bytes'] / 1e6:.1f} ({kinds['wasm'] / 1e6:.1f} / {kinds['model'] / 1e6:.1f} / "
            f"{kinds['script'] / 1e6:.2f}) | {v['time_to_first_result_ms'] / 1000:.1f} s |"
        )
    lines += [
        "",
        f"Assumptions: one request uses one core for the server's own total time; cores are kept at most "
        f"{UTILIZATION_CAP:.0%} busy so that queueing adds little to p99 (check with the load tests); "
        f"replicas have {CORES_PER_REPLICA} cores; network here is loopback, so the network share is "
        "HTTP + JSON + upload copy, a floor for real networks. Browser and server share one 2-core machine; "
        "the CPU is shared with other work, so read ratios, not absolute milliseconds.",
    ]
    return "\n".join(lines)
