"""The README's generated blocks made from `bench-goals` (goals.json) and `bench-batching`
(batching-t<threads>.json): the goal table and where the overhead and the saturation CPU go, the
workers x threads grid, the levers, batching, upload formats and preset=auto. Every figure comes from
those files; service/bench/readme.py puts the blocks in place."""

from __future__ import annotations

from service.bench.grid_names import ACCESS_LOG, DEFAULT, PLAIN, grid_name
from service.bench.results_md import Doc, against, compare_ratios, span

TWO_WORKERS = grid_name(2, 1)
TWO_THREADS = grid_name(1, 2)
SPINNING = grid_name(1, 2, spinning=True)
NO_BENCH = "not compared: bench-goals found no bench.json beside it (run `make bench` first)"
# the latency lab's goals (issue 3), as the table states and judges them
OVERHEAD_GOAL_MS, SATURATION_GOAL, P99_GOAL, DECODE_GOAL_MS, AUTO_GOAL = 1.0, 0.9, 3, 3, 1.1
NAIVE_GOAL, BENTOML_GOAL = 2.0, 1.0  # throughput over theirs, lowest round
RSS_GOAL_MIB = 300  # in MiB as measured (bytes / 2**20): stricter than 300 MB
# "flat": RSS grew less than this from the sample after the first step (the warm-up) to the last; the
# README's Goals section says so (tests/bench/test_results_goals_md.py holds it to this)
RSS_FLAT_GROWTH_MIB = 10


def goals_block(goals: Doc, compare: Doc | None) -> str:
    """The goal table, and where the 1-client overhead and the saturation CPU go."""
    text = "\n".join(_goal_rows(goals, compare)) + "\n\n" + _overhead_split(goals["http_overhead"])
    return text + "\n\n" + _saturation_ceiling(goals)


def _goal_rows(goals: Doc, compare: Doc | None) -> list[str]:
    h, s, rss = goals["http_overhead"], goals["saturation"], goals["rss"]
    d, engine, pipe = s["default"], goals["loads"][s["best_engine"]], _pipeline(goals)
    # RSS in MiB (2**20 bytes: process.tree_rss_mb); the *_mb keys keep their names for older goals.json
    rss_at = dict(rss["rss_mb"])
    first_step = rss["rss_mb"][1][0]
    # flat over the requests only if they were served: refused ones (401, 503) allocate next to nothing
    rss_met = (
        rss["max_mb"] <= RSS_GOAL_MIB
        and rss["growth_after_first_step_mb"] < RSS_FLAT_GROWTH_MIB
        and rss["failed"] == 0
    )
    # overhead_ms is a difference of figures to the microsecond, rounded to the microsecond: exact
    overhead_met = _verdict(h["overhead_ms"] <= OVERHEAD_GOAL_MS)
    saturation = _default_vs_engine(goals)
    saturation_met = _verdict(saturation >= SATURATION_GOAL)
    tail = d["p99_ms"] / d["p50_ms"]  # not the document's p99_over_p50: rounded, 3.004 reads 3.0
    # the percentiles are of answered requests only: a tail met while requests failed says nothing
    p99_met = tail <= P99_GOAL and not d["failures"]
    return [
        "| goal | target | measured | |",
        "|---|---|---|---|",
        f"| `/classify` p50, loopback, 1 client, defaults | <= pipeline p50 + {OVERHEAD_GOAL_MS} ms | HTTP "
        f"{h['http']['p50_ms']:.2f} ms vs pipeline {h['pipeline']['p50_ms']:.2f} ms: "
        f"**+{h['overhead_ms']:.2f} ms** (lean client; httpx +{h['httpx_overhead_ms']:.2f} ms); a bare ASGI "
        f"app with the same pipeline: +{h['floor_overhead_ms']:.2f} ms | {overhead_met} |",
        f"| saturation throughput ({goals['machine']['cores']} cores, c={goals['concurrency']}) | >= "
        f"{SATURATION_GOAL}x best in-process engine | {d['rps']:.0f} req/s vs engine "
        f"{engine['rps']:.0f} inf/s ({s['best_engine'].removeprefix('engine ')}): "
        f"**{against(saturation, SATURATION_GOAL)}x**; vs the in-process pipeline {pipe['rps']:.0f}/s: "
        f"{s['default_vs_pipeline']:.2f}x | {saturation_met} |",
        _baseline_row(compare),
        f"| p99 at saturation | <= {P99_GOAL}x p50 | {d['p99_ms']:.1f} / {d['p50_ms']:.1f} ms = "
        f"**{against(tail, P99_GOAL)}x**{_failed(d)} | {_verdict(p99_met)} |",
        _decode_row(goals.get("decode_preprocess")),
        f"| RSS of the default service | <= {RSS_GOAL_MIB} MiB, flat over {rss['requests']:,} requests | "
        f"**{rss['max_mb']:.0f} MiB** max; {rss_at[first_step]} MiB after {first_step:,} -> "
        f"{rss_at[rss['requests']]} MiB after {rss['requests']:,} ({rss['failed']} failed) | "
        f"{_verdict(rss_met)} |",
        _auto_row(goals["auto_vs_bench"]),
    ]


def _default_vs_engine(goals: Doc) -> float:
    """The default server's throughput over the best engine measure's, from the two: the document's own
    default_vs_engine is rounded, and a verdict on it would call 0.8996 (read 0.9) met."""
    s = goals["saturation"]
    return s["default"]["rps"] / goals["loads"][s["best_engine"]]["rps"]


def _failed(load: Doc) -> str:
    """The requests a load's latency figures leave out: its percentiles are of the answered (200) ones
    only, so fast refusals (503) would flatter the tail."""
    failures = load["failures"]
    if not failures:
        return ""
    by_status = ", ".join(f"{n} x {status}" for status, n in failures.items())
    return f" ({sum(failures.values())} failed: {by_status})"


def _decode_row(dp: Doc | None) -> str:
    """The 1080p decode goal; bench-goals skips it without the picture (no ../shared/images, no
    --large-image): then not measured, and not judged."""
    if dp is None:
        return (
            f"| 1080p JPEG decode + preprocess | <= {DECODE_GOAL_MS} ms | not measured: bench-goals had no "
            "1080p JPEG (`--large-image`) | |"
        )
    return (
        f"| `{dp['image']}` decode + preprocess | <= {DECODE_GOAL_MS} ms | p50 **{dp['p50_ms']:.2f} ms** "
        f"(p90 {dp['p90_ms']:.2f}, p99 {dp['p99_ms']:.2f}; {dp['runs']} runs) | "
        f"{_verdict(dp['p50_ms'] <= DECODE_GOAL_MS)} |"
    )


def _pipeline(goals: Doc) -> Doc:
    return next(v for k, v in goals["loads"].items() if k.startswith("pipeline"))


def _baseline_row(compare: Doc | None) -> str:
    goal = "| ... vs the naive baseline and BentoML | >= 2x naive, >= BentoML |"
    if compare is None:
        return f"{goal} not measured (no compare.json) | |"
    spans = compare_ratios(compare)
    naive, bento = spans.get("naive"), spans.get("bentoml")
    if not naive:
        return f"{goal} no naive round in compare.json | |"
    measured = f"`make compare` (locust, below): **{span(*naive, NAIVE_GOAL)}** naive" + (
        f", **{span(*bento, BENTOML_GOAL)}** BentoML" if bento else "; no BentoML figure in compare.json"
    )
    if naive[0] >= NAIVE_GOAL and bento is None:  # half the goal measured: met only once both are
        return f"{goal} {measured} | |"
    met = naive[0] >= NAIVE_GOAL and bento is not None and bento[0] >= BENTOML_GOAL
    return f"{goal} {measured} | {_verdict(met)} |"


def _choices(auto: Doc) -> dict[str, Doc]:
    """auto_vs_bench's figures by model (without a bench.json it holds only a note)."""
    return {model: v for model, v in auto.items() if isinstance(v, dict) and "auto" in v}


def _timed_now(v: Doc) -> float | None:
    """auto's choice against the bench's best cell, timed side by side by bench-goals (auto_check.py);
    None in goals.json files from before it did, or when one of them would not run."""
    return (v.get("side_by_side") or {}).get("ratio")


def _bench_ratio(v: Doc) -> float | None:
    """auto's p50 in the bench over the bench's best cell's, from the two p50s (the document's ratio is
    rounded); None when the bench's matrix left auto's choice out."""
    return v["auto_p50_ms_in_bench"] / v["best_p50_ms"] if v["ratio"] is not None else None


def _auto_row(auto: Doc) -> str:
    """Each model judged on its side-by-side ratio (the bench's cells were timed minutes apart, one noisy
    cell can swing theirs), else on the bench's; the row only when every model has one of them."""
    parts, ratios = [], []
    for model, v in _choices(auto).items():
        now, in_bench = _timed_now(v), _bench_ratio(v)
        chose = f"{model}: auto = {_label(v['auto'])}"
        if now is not None:
            parts.append(
                f"{chose} vs best {v['best']}: **{against(now, AUTO_GOAL)}x** side by side{_in_the_bench(v)}"
            )
        elif in_bench is not None:
            parts.append(
                f"{chose} ({v['auto_p50_ms_in_bench']} ms) vs best {v['best']} ({v['best_p50_ms']} ms): "
                f"**{against(in_bench, AUTO_GOAL)}x**{_not_timed(v)}"
            )
        else:
            parts.append(f"{chose}, not in the bench{_not_timed(v)}")
        ratios.append(now if now is not None else in_bench)
    measured = "; ".join(parts) or NO_BENCH
    judged = [r for r in ratios if r is not None]
    met = _verdict(all(r <= AUTO_GOAL for r in judged)) if judged and len(judged) == len(ratios) else ""
    return f"| `preset=auto` vs the bench's best cell | within {AUTO_GOAL}x | {measured} | {met} |"


def _not_timed(v: Doc) -> str:
    """Why a model's choice was not timed beside the best cell, when bench-goals said why."""
    note = (v.get("side_by_side") or {}).get("note")
    return f" (not timed side by side: {note})" if note else ""


def _in_the_bench(v: Doc) -> str:
    if v["side_by_side"]["same_configuration"]:
        return " (the same configuration)"
    if v["ratio"] is None:
        return " (auto's choice is not in the bench)"
    return f" (in the bench: {v['auto_p50_ms_in_bench']} vs {v['best_p50_ms']} ms, {v['ratio']:.2f}x)"


def _overhead_split(h: Doc) -> str:
    """Where the 1-client overhead goes: the server's own stage timer, the floor, the spinning client,
    and the same request without HTTP."""
    st = h["server_timing_p50_ms"]
    small = st["receive"] + st["queue"] + st["load"] + st["postprocess"]
    text = (
        f"**Where the HTTP overhead goes** (same run). The handler's own timer says {st['total']:.2f} ms "
        f"(decode {st['decode']:.2f}, preprocess {st['preprocess']:.2f}, inference {st['inference']:.2f}, "
        f"receive + queue + load + postprocess {small:.2f}) against {h['pipeline']['p50_ms']:.2f} ms "
        "in-process. The floor (`service/bench/floor.py`: the same pipeline call behind a bare ASGI app "
        f"under the same uvicorn) costs +{h['floor_overhead_ms']:.2f} ms; with no work in its thread the "
        f"whole round trip takes **{h['floor_no_work_ms']:.2f} ms**, and with a busy-wait of "
        f"{h['busy_wait_ms']} ms in place of the pipeline **+{h['floor_busy_wait_excess_ms']:.2f} ms** over "
        "the wait: the floor is mostly waking what slept through the wait. A client that polls its socket "
        "instead of sleeping (`SpinningClient`, a diagnostic) sees "
        f"**+{h['spinning_client_overhead_ms']:.2f} ms** against +{h['overhead_ms']:.2f} ms for the lean "
        "client."
    )
    if "asgi_handler_overhead_ms" in h:
        text += (
            " The same request without HTTP, in the bench process (`service/bench/asgi.py`): the `/classify` "
            f"handler alone takes **+{h['asgi_handler_overhead_ms']:.2f} ms** over the pipeline (the hop to "
            "the inference thread and back, reading the upload, settings, stage timing, the typed response: "
            "Python code run on cold caches right after the inference); the whole app (our middleware, "
            "FastAPI's routing and request handling; here also the stage histograms, which over HTTP come "
            f"after the response is sent) **+{h['asgi_app_over_handler_ms']:.2f} ms** more; "
            + _http_remainder(h["http_over_asgi_app_ms"])
        )
    return text


def _http_remainder(ms: float) -> str:
    """What uvicorn, HTTP and the client add over the app called in-process: the difference of two
    measures, which the host's load can turn negative, and no part of a round trip is."""
    if ms >= 0:
        return f"uvicorn, HTTP, loopback TCP and the client the remaining **{ms:.2f} ms**."
    return (
        f"and over HTTP the request took {-ms:.2f} ms less than the same app without HTTP, which it cannot: "
        "the host's load changed between the measures, so this run does not split the rest."
    )


def _saturation_ceiling(goals: Doc) -> str:
    """Why saturation stays below the goal: the in-process pipeline's own ceiling against the engine,
    and where the server's CPU went by thread. CPU per request = cores x 1000 / throughput."""
    s, cores = goals["saturation"], goals["machine"]["cores"]
    engine, pipe = goals["loads"][s["best_engine"]], _pipeline(goals)
    engine_ms, pipe_ms = cores * 1000 / engine["rps"], cores * 1000 / pipe["rps"]
    room_ms = cores * 1000 / (SATURATION_GOAL * engine["rps"]) - engine_ms
    title = (
        f"**Why saturation stays below {SATURATION_GOAL}x** (same run)."
        if _default_vs_engine(goals) < SATURATION_GOAL
        else "**Where the CPU goes at saturation** (same run)."
    )
    if pipe["rps"] < engine["rps"]:
        text = (
            f"{title} With {cores} requests side by side the pipeline's decode + preprocess + top-k take "
            f"~{pipe_ms - engine_ms:.1f} ms of CPU each on top of the engine's {engine_ms:.1f} ms, so the "
            f"in-process ceiling is {pipe['rps']:.0f}/s = **{pipe['rps'] / engine['rps']:.2f}x** of the "
            f"engine before any HTTP; {SATURATION_GOAL}x would leave {room_ms:.1f} ms per request beyond the "
            "engine, less than decoding this one JPEG."
        )
    else:
        # the pipeline runs the engine and more: faster than the engine alone is the host's load moving
        text = (
            f"{title} The in-process pipeline measured {pipe['rps']:.0f}/s against {engine['rps']:.0f}/s "
            "for the engine alone, which it cannot, since it runs the engine and more: the host's load "
            "changed between the turns, so this run does not give the pipeline's ceiling."
        )
    cpu = s.get("server_cpu")
    if cpu:
        text += (
            " By thread (`/proc` CPU times over the default's saturation measures, per request answered in "
            "them): the inference threads "
            f"spend **{cpu['other_threads_ms_per_request']:.2f} ms** of CPU per request against "
            f"{cpu['in_process_pipeline_ms_per_request']:.2f} ms for the same work in-process, the event "
            f"loop **{cpu['event_loop_ms_per_request']:.2f} ms**, and the server keeps "
            f"{cpu['server_busy_cores']:.2f} of the {cores} cores busy. The load generator "
            "(`service/bench/load.py`, raw keep-alive HTTP/1.1 as wrk does it) uses "
            f"{s['default']['bench_process_cores']} of a core."
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
        "| configuration | req/s | p50 ms | p99 ms | p99/p50 | RSS MiB after "
        "| cores the bench process used |",
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
    p50 = weights["p50_ms"]
    lever = "`int8-signed.onnx` (VNNI kernels), engine p50, 1 thread"
    if weights.get("vnni"):
        signed = f"{p50['int8-signed.onnx']:.2f} ms (**{weights['signed_speedup']:.2f}x**)"
    else:
        # without VNNI the u8 x s8 kernels can saturate: the server keeps int8.onnx, so no figure
        signed = "not run: this CPU has no VNNI, the server runs `int8.onnx`"
    rows.append(f"| {lever} | {signed} | `int8.onnx`: {p50['int8.onnx']:.2f} ms |")
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
    head = "| batching |" + "".join(
        f" {r['threads']} thread(s): req/s | p50 ms | p99 ms | mean batch |" for r in runs
    )
    lines = [f"Runs: {when}.", "", head, "|---|" + "---:|---:|---:|---:|" * len(runs)]
    # every configuration any run measured, in order: runs of different versions may differ
    names = list(dict.fromkeys(name for r in runs for name in r["loads"]))
    for window in names:
        cells = []
        for r in runs:
            v = r["loads"].get(window)
            cells.append(
                " - | - | - | - |"
                if v is None
                else f" {v['rps']:.1f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | {v['mean_batch'] or 1:.2f} |"
            )
        label = {"window 0 ms": "off", "queued": "queued (no window)"}.get(
            window, window.removeprefix("window ")
        )
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
        "| model | auto chose | its p50 in the bench (ms) | best bench cell | best p50 (ms) | ratio "
        "| side by side now (ms) | ratio now |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for model, v in _choices(goals["auto_vs_bench"]).items():
        in_bench = (
            f"{v['auto_p50_ms_in_bench']} | {v['best']} | {v['best_p50_ms']} | {v['ratio']:.2f}x"
            if v["ratio"] is not None
            else f"not in the bench | {v['best']} | {v['best_p50_ms']} |"  # left out of the bench's matrix
        )
        lines.append(f"| {model} | {_label(v['auto'])} | {in_bench} | {_now(v)} |")
    return "\n".join(lines) if len(lines) > 2 else NO_BENCH


def _now(v: Doc) -> str:
    """The side-by-side columns: auto's p50 / the best's p50, and their ratio."""
    timed = v.get("side_by_side") or {}
    if _timed_now(v) is None:
        return f"{timed.get('note', 'not timed')} |"
    if timed["same_configuration"]:
        return f"the same configuration | {timed['ratio']:.2f}x"
    return f"{timed['auto_p50_ms']} / {timed['best_p50_ms']} | {timed['ratio']:.2f}x"
