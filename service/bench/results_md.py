"""The README's generated blocks, as markdown, from the lab's artifacts: `bench` (bench.md, bench.json),
`bench-goals` (goals.json), `bench-batching` (batching-t<threads>.json), `python -m loadtests.run
compare` (compare.{md,json}) and `bench-browser` (browser.{md,json}). Every figure in these blocks
comes from those files; the prose around the blocks in the README is written by hand and says nothing
a new run could contradict. service/bench/readme.py puts the blocks in place."""

from __future__ import annotations

import re
from typing import Any

from service.bench.grid_names import ACCESS_LOG, DEFAULT, PLAIN, grid_name

Doc = dict[str, Any]
TWO_WORKERS = grid_name(2, 1)
TWO_THREADS = grid_name(1, 2)
SPINNING = grid_name(1, 2, spinning=True)
NO_BENCH = "not compared: bench-goals found no bench.json beside it (run `make bench` first)"


def _table(markdown: str, header: str) -> str:
    """The markdown table of `markdown` whose first line starts with `header`."""
    match = re.search(rf"^{re.escape(header)}.*?(?=\n\n|\Z)", markdown, re.S | re.M)
    if match is None:
        raise ValueError(f"no table starting {header!r}")
    return match.group(0).rstrip("\n")


def run_block(bench_md: str, bench: Doc, goals: Doc) -> str:
    """Which runs, on what; the chart; the bench matrix and its ratios."""
    m, gm = bench["machine"], goals["machine"]
    h = goals["http_overhead"]
    ratios = "\n".join(
        line for line in _table(bench_md, "| ratio | model").splitlines() if "http_overhead_ms" not in line
    )
    return (
        f"**The run below**: `make bench` started {m['started_utc']}, `make bench-goals` "
        f"{gm['started_utc']}, on {m['cpu']} ({m['machine']}), {m['cores']} cores, SIMD "
        f"{', '.join(m['simd'])}; Python {m['python']}, onnxruntime {m['packages']['onnxruntime']}, "
        f"ai-edge-litert {m['packages']['ai-edge-litert']}. Load average at start "
        f"{m['load_average'][0]:.1f} for the bench and {gm['load_average'][0]:.1f} for the goals, on 2 "
        f"cores; the host is shared, so compare figures taken seconds apart. Image: "
        f"`{bench['config']['image']}`, {bench['config']['runs']} timed runs per cell and mode. The HTTP "
        "column is the "
        f"server's overhead as a lean client sees it; with httpx add "
        f"~{h['httpx']['p50_ms'] - h['http']['p50_ms']:.1f} ms of the client's own work (the goals "
        "below time both).\n\n"
        "![latency per configuration, one panel per model](docs/bench.png)\n\n"
        f"{_table(bench_md, '| model | engine')}\n\n{ratios}"
    )


def _rounds(compare: Doc) -> list[dict[str, Doc]]:
    """compare.json's rows, one dict (service -> row) per round."""
    by_round: dict[int, dict[str, Doc]] = {}
    for row in compare["results"]:
        by_round.setdefault(row["round"], {})[row["service"]] = row
    return list(by_round.values())


def _compare_ratios(compare: Doc) -> dict[str, tuple[float, float]]:
    """service -> (lowest, highest) of ours' throughput over it, one figure per round."""
    ratios: dict[str, list[float]] = {}
    for services in _rounds(compare):
        for name, row in services.items():
            if name != "ours":
                ratios.setdefault(name, []).append(services["ours"]["rps"] / row["rps"])
    return {name: (min(values), max(values)) for name, values in ratios.items()}


def _span(low: float, high: float) -> str:
    return f"{low:.2f}x" if round(low, 2) == round(high, 2) else f"{low:.2f}-{high:.2f}x"


def goals_block(goals: Doc, compare: Doc | None) -> str:
    """The goal table, and where the 1-client overhead and the saturation CPU go."""
    h, s, loads = goals["http_overhead"], goals["saturation"], goals["loads"]
    dp, rss = goals["decode_preprocess"], goals["rss"]
    d, engine = s["default"], loads[s["best_engine"]]
    pipe = next(v for k, v in loads.items() if k.startswith("pipeline"))
    st = h["server_timing_p50_ms"]
    rss_at = dict(rss["rss_mb"])
    overhead_met = h["overhead_ms"] <= 1.0
    saturation_met = s["default_vs_engine"] >= 0.9
    if compare is not None:
        spans = _compare_ratios(compare)
        naive, bento = spans.get("naive"), spans.get("bentoml")
        baselines = (
            f"`make compare` (locust, below): **{_span(*naive)}** naive"
            + (f", **{_span(*bento)}** BentoML" if bento else "")
            if naive
            else "no naive round in compare.json"
        )
        baselines_met = bool(naive and naive[0] >= 2.0 and (bento is None or bento[0] >= 1.0))
        baseline_row = (
            f"| ... vs the naive baseline and BentoML | >= 2x naive, >= BentoML | "
            f"{baselines} | {_verdict(baselines_met)} |"
        )
    else:
        baseline_row = (
            "| ... vs the naive baseline and BentoML | >= 2x naive, >= BentoML | not "
            "measured (no compare.json) | |"
        )
    auto = "; ".join(
        f"{model}: auto = {_label(v['auto'])} "
        f"({v['auto_p50_ms_in_bench']} ms) vs best {v['best']} ({v['best_p50_ms']} ms): **{v['ratio']:.2f}x**"
        for model, v in goals["auto_vs_bench"].items()
        if "ratio" in v
    )
    compared = [v for v in goals["auto_vs_bench"].values() if "ratio" in v]
    auto_met = bool(compared) and all(v["ratio"] <= 1.1 for v in compared)
    lines = [
        "| goal | target | measured | |",
        "|---|---|---|---|",
        f"| `/classify` p50, loopback, 1 client, defaults | <= pipeline p50 + 1.0 ms | HTTP "
        f"{h['http']['p50_ms']:.2f} ms vs pipeline {h['pipeline']['p50_ms']:.2f} ms: "
        f"**+{h['overhead_ms']:.2f} ms** "
        f"(lean client; httpx +{h['httpx_overhead_ms']:.2f} ms); a bare ASGI app with the same pipeline: "
        f"+{h['floor_overhead_ms']:.2f} ms | {_verdict(overhead_met)} |",
        f"| saturation throughput (2 cores, c={goals['concurrency']}) | >= 0.9x best in-process engine | "
        f"{d['rps']:.0f} req/s vs engine {engine['rps']:.0f} inf/s "
        f"({s['best_engine'].removeprefix('engine ')}): "
        f"**{s['default_vs_engine']:.2f}x**; vs the in-process pipeline {pipe['rps']:.0f}/s: "
        f"{s['default_vs_pipeline']:.2f}x | {_verdict(saturation_met)} |",
        baseline_row,
        f"| p99 at saturation | <= 3x p50 | {d['p99_ms']:.1f} / {d['p50_ms']:.1f} ms = "
        f"**{d['p99_over_p50']:.2f}x** "
        f"| {_verdict(d['p99_over_p50'] <= 3)} |",
        f"| `{dp['image']}` decode + preprocess | <= 3 ms | p50 **{dp['p50_ms']:.2f} ms** (p90 "
        f"{dp['p90_ms']:.2f}, "
        f"p99 {dp['p99_ms']:.2f}; {dp['runs']} runs) | {_verdict(dp['p50_ms'] <= 3)} |",
        f"| RSS of the default service | <= 300 MB, flat over {rss['requests']:,} requests | "
        f"**{rss['max_mb']:.0f} MB** "
        f"max; {rss_at[rss['rss_mb'][1][0]]} MB after {rss['rss_mb'][1][0]:,} -> "
        f"{rss_at[rss['requests']]} MB "
        f"after {rss['requests']:,} ({rss['failed']} failed) | "
        f"{_verdict(rss['max_mb'] <= 300 and rss['growth_after_first_step_mb'] < 10)} |",
        f"| `preset=auto` vs the bench's best cell | within 1.1x | {auto or NO_BENCH} | "
        f"{_verdict(auto_met) if compared else ''} |",
    ]
    text = "\n".join(lines) + "\n\n"
    text += (
        f"**Where the HTTP overhead goes** (same run). The handler's own timer says {st['total']:.2f} ms "
        f"(decode "
        f"{st['decode']:.2f}, preprocess {st['preprocess']:.2f}, inference {st['inference']:.2f}, receive "
        f"+ queue "
        f"+ load + postprocess {st['receive'] + st['queue'] + st['load'] + st['postprocess']:.2f}) against "
        f"{h['pipeline']['p50_ms']:.2f} ms in-process. The floor (`service/bench/floor.py`: the same "
        f"pipeline "
        f"call behind a bare ASGI app under the same uvicorn) costs +{h['floor_overhead_ms']:.2f} ms; "
        f"with no "
        f"work in its thread the whole round trip takes **{h['floor_no_work_ms']:.2f} ms**, and with a "
        f"busy-wait "
        f"of {h['busy_wait_ms']} ms in place of the pipeline **+{h['floor_busy_wait_excess_ms']:.2f} ms** "
        f"over "
        "the wait: the floor is mostly waking what slept through the wait. A client that polls its socket "
        f"instead of sleeping (`SpinningClient`, a diagnostic) sees "
        f"**+{h['spinning_client_overhead_ms']:.2f} "
        f"ms** against +{h['overhead_ms']:.2f} ms for the lean client."
    )
    if "asgi_handler_overhead_ms" in h:
        text += (
            " The same request without HTTP, in the bench process (`service/bench/asgi.py`): the `/classify` "
            f"handler alone takes **+{h['asgi_handler_overhead_ms']:.2f} ms** over the pipeline (the hop to "
            "the inference thread and back, reading the upload, settings, stage timing and histograms, the "
            "typed response: Python code run on cold caches right after the inference); the whole app (our "
            f"middleware, FastAPI's routing and request handling) **+{h['asgi_app_over_handler_ms']:.2f} "
            f"ms** "
            f"more; uvicorn, HTTP, loopback TCP and the client the remaining "
            f"**{h['http_over_asgi_app_ms']:.2f} "
            "ms**."
        )
    text += (
        "\n\n**Why saturation stays below 0.9x** (same run). With two requests side by side the pipeline's "
        f"decode + preprocess + top-k take ~{2000 / pipe['rps'] - 2000 / engine['rps']:.1f} ms of CPU "
        f"each on top "
        f"of the engine's {2000 / engine['rps']:.1f} ms, so the in-process ceiling is {pipe['rps']:.0f}/s = "
        f"**{pipe['rps'] / engine['rps']:.2f}x** of the engine before any HTTP; 0.9x would leave "
        f"{2000 / (0.9 * engine['rps']) - 2000 / engine['rps']:.1f} ms per request beyond the engine, less "
        "than decoding this one JPEG."
    )
    cpu = s.get("server_cpu")
    if cpu:
        text += (
            " By thread (`/proc` CPU times over the default's saturation windows): the inference threads "
            "spend "
            f"**{cpu['other_threads_ms_per_request']:.2f} ms** of CPU per request against "
            f"{cpu['in_process_pipeline_ms_per_request']:.2f} ms for the same work in-process, the event "
            f"loop "
            f"**{cpu['event_loop_ms_per_request']:.2f} ms**, and the server keeps "
            f"{cpu['server_busy_cores']:.2f} "
            f"of the 2 cores busy. The load generator (`service/bench/load.py`, raw keep-alive HTTP/1.1 "
            f"as wrk "
            f"does it) uses {d['bench_process_cores']} of a core."
        )
    return text


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _label(settings: Doc) -> str:
    engine = f"litert-{settings['kernels']}" if settings["engine"] == "litert" else settings["engine"]
    return f"{engine} {settings['precision']} t{settings['threads']}"


def grid_block(goals: Doc) -> str:
    """Every server configuration and the in-process references at saturation, same run."""
    loads = goals["loads"]
    lines = [
        "| configuration | req/s | p50 ms | p99 ms | p99/p50 | RSS MB after | cores the bench process used |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    servers: list[str] = []
    in_process: list[str] = []
    for name, v in loads.items():
        kind = "in-process" if name.startswith(("engine", "pipeline")) else "server"
        row = (
            f"| {kind}: {name} | {v['rps']:.0f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | "
            f"{v['p99_over_p50']:.2f} "
            f"| {v.get('rss_mb', '')} | {v['bench_process_cores']}{' (client)' if kind == 'server' else ''} |"
        )
        (servers if kind == "server" else in_process).append(row)
    return "\n".join(lines + servers + in_process)


def levers_block(goals: Doc) -> str:
    """The levers bench-goals measures beside the default, same run."""
    h, loads, weights = goals["http_overhead"], goals["loads"], goals["int8_weights"]
    d = loads[DEFAULT]
    rows = ["| lever | with it | without it (the default unless said) |", "|---|---|---|"]

    def server_row(lever: str, name: str, overhead_key: str | None) -> None:
        if name not in loads:
            return
        v = loads[name]
        one = f"1 client +{h[overhead_key]:.2f} ms; " if overhead_key and overhead_key in h else ""
        base = f"1 client +{h['overhead_ms']:.2f} ms; " if one else ""
        rows.append(
            f"| {lever} | {one}{v['rps']:.0f} req/s, p99 {v['p99_ms']:.0f} ms | {base}{d['rps']:.0f} req/s, "
            f"p99 {d['p99_ms']:.0f} ms |"
        )

    server_row("asyncio + h11 instead of uvloop + httptools", PLAIN, "asyncio_h11_overhead_ms")
    server_row("JSON access log on (`MVA_ACCESS_LOG`)", ACCESS_LOG, "access_log_overhead_ms")
    server_row("2 worker processes x 1 thread", TWO_WORKERS, None)
    if SPINNING in loads and TWO_THREADS in loads:
        s, t = loads[SPINNING], loads[TWO_THREADS]
        rows.append(
            f"| onnxruntime spinning, 2 threads per request | {s['rps']:.0f} req/s, p99 {s['p99_ms']:.0f} "
            f"ms | "
            f"2 threads without spinning: {t['rps']:.0f} req/s, p99 {t['p99_ms']:.0f} ms |"
        )
    if weights.get("vnni"):
        p50 = weights["p50_ms"]
        rows.append(
            f"| `int8-signed.onnx` (VNNI kernels), engine p50, 1 thread | {p50['int8-signed.onnx']:.2f} ms "
            f"(**{weights['signed_speedup']:.2f}x**) | `int8.onnx`: {p50['int8.onnx']:.2f} ms |"
        )
    return "\n".join(rows)


def batching_engine_block(goals: Doc) -> str:
    per_image = goals["batching"]["per_image_ms"]
    sizes = list(next(iter(per_image.values())))
    lines = [
        "| intra-op threads | " + " | ".join(sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for threads, row in per_image.items():
        lines.append(f"| {threads.split('=')[1]} | " + " | ".join(f"{ms:.2f}" for ms in row.values()) + " |")
    return "\n".join(lines)


def batching_server_block(runs: list[Doc]) -> str:
    """bench-batching runs (one per thread count), side by side by window."""
    runs = sorted(runs, key=lambda r: r["threads"])
    when = ", ".join(
        f"{r['threads']} thread(s): {r['machine']['started_utc']} (load average "
        f"{r['machine']['load_average'][0]:.1f})"
        for r in runs
    )
    head = "| window |" + "".join(
        f" {r['threads']} thread(s): req/s | p50 ms | p99 ms | mean batch |" for r in runs
    )
    lines = [f"Runs: {when}.", "", head, "|---|" + "---:|---:|---:|---:|" * len(runs)]
    for window in runs[0]["loads"]:
        cells = []
        for r in runs:
            v = r["loads"][window]
            cells.append(
                f" {v['rps']:.1f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | {v['mean_batch'] or 1:.2f} |"
            )
        label = "off" if window == "window 0 ms" else window.removeprefix("window ")
        lines.append(f"| {label} |" + "".join(cells))
    return "\n".join(lines)


def formats_block(goals: Doc) -> str:
    """Decode + preprocess of one picture in each upload format and size, against the inference."""
    figures = goals["decode_by_format"]
    inference = goals["http_overhead"]["server_timing_p50_ms"]["inference"]
    lines = [
        f"`{figures['source']}` re-encoded (JPEG and WebP at quality 90); p50 of decode and preprocess "
        f"in the bench process; the last column against the server's inference p50 ({inference:.2f} ms, "
        "same run).",
        "",
        "| picture | upload | decoded at | decode ms | preprocess ms | together | / inference |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in figures["rows"]:
        lines.append(
            f"| {row['size']} {row['format']} | {row['bytes'] / 1e6:.2f} MB | {row['decoded']} "
            f"| {row['decode_p50_ms']:.2f} | {row['preprocess_p50_ms']:.2f} | {row['total_p50_ms']:.2f} "
            f"| {row['total_p50_ms'] / inference:.2f}x |"
        )
    return "\n".join(lines)


def auto_block(goals: Doc) -> str:
    lines = [
        "| model | auto chose | its p50 in the bench (ms) | best bench cell | best p50 (ms) | ratio |",
        "|---|---|---:|---|---:|---:|",
    ]
    for model, v in goals["auto_vs_bench"].items():
        if "ratio" in v:
            lines.append(
                f"| {model} | {_label(v['auto'])} | {v['auto_p50_ms_in_bench']} | {v['best']} | "
                f"{v['best_p50_ms']} "
                f"| {v['ratio']:.2f}x |"
            )
    return "\n".join(lines) if len(lines) > 2 else NO_BENCH


def compare_block(compare_md: str, compare: Doc) -> str:
    spans = _compare_ratios(compare)
    rounds = [r for r in _rounds(compare) if "naive" in r]
    text = _table(compare_md, "| round | service") + "\n\n"
    naive = spans.get("naive")
    if naive:
        p50 = [r["ours"]["p50_ms"] / r["naive"]["p50_ms"] for r in rounds]
        p99 = [r["ours"]["p99_ms"] / r["naive"]["p99_ms"] for r in rounds]
        text += (
            f"Ours served **{_span(*naive)}** the naive service's throughput"
            + (f" and **{_span(*spans['bentoml'])}** BentoML's" if "bentoml" in spans else "")
            + f" (finished {compare['finished']}); its p50 was {_span(min(p50), max(p50))} the naive one's "
            f"and its p99 {_span(min(p99), max(p99))}."
        )
    return text


VISITOR_HEADING = "Browser path, a new visitor"


def browser_block(browser_md: str, browser: Doc) -> str:
    """bench-browser's report minus its new-visitor part: the table, the claims, the sizing."""
    machine = browser.get("machine")
    run = (
        f"Run: `bench-browser` started {machine['started_utc']}, load average "
        f"{machine['load_average'][0]:.1f} on {machine['cores']} cores.\n\n"
        if machine
        else ""
    )
    head, _, tail = browser_md.partition(f"\n\n{VISITOR_HEADING}")
    assumptions = tail[tail.index("Assumptions:") :] if "Assumptions:" in tail else ""
    return run + head.strip("\n") + ("\n\n" + assumptions.strip("\n") if assumptions else "")


def browser_visitor_block(browser_md: str) -> str:
    """The new-visitor table of bench-browser's report."""
    return _table(browser_md, "| model | link |")
