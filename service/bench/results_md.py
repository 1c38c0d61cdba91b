"""The README's generated blocks, as markdown, from the lab's artifacts: `bench` (bench.md, bench.json),
`python -m loadtests.run compare` (compare.{md,json}) and `bench-browser` (browser.{md,json}); those
made from `bench-goals` and `bench-batching` are in results_goals_md.py. Every figure in these blocks
comes from those files; the prose around the blocks in the README is written by hand and says nothing
a new run could contradict. service/bench/readme.py puts the blocks in place."""

from __future__ import annotations

import re
from typing import Any

Doc = dict[str, Any]


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
        f"{m['load_average'][0]:.1f} for the bench and {gm['load_average'][0]:.1f} for the goals, on "
        f"{gm['cores']} cores; the host is shared, so compare figures taken seconds apart. Image: "
        f"`{bench['config']['image']}`, {bench['config']['runs']} timed runs per cell and mode. The HTTP "
        "column is the "
        f"server's overhead as a lean client sees it; with httpx add "
        f"~{h['httpx']['p50_ms'] - h['http']['p50_ms']:.1f} ms of the client's own work (the goals "
        "below time both).\n\n"
        "![latency per configuration, one panel per model](docs/bench.png)\n\n"
        f"{_table(bench_md, '| model | engine')}\n\n{ratios}"
    )


def _rounds(compare: Doc) -> list[dict[str, Doc]]:
    """compare.json's rows, one dict (service -> row) per round; services that did not run (a row with
    only the reason) are left out."""
    by_round: dict[int, dict[str, Doc]] = {}
    for row in compare["results"]:
        if "rps" in row:
            by_round.setdefault(row["round"], {})[row["service"]] = row
    return list(by_round.values())


def compare_ratios(compare: Doc) -> dict[str, tuple[float, float]]:
    """service -> (lowest, highest) of ours' throughput over it, one figure per round: right answers
    per second (compare.json's served_rps; its rps counts failed requests too)."""
    ratios: dict[str, list[float]] = {}
    for services in _rounds(compare):
        for name, row in services.items():
            if name != "ours" and "ours" in services and row["served_rps"] > 0:
                ratios.setdefault(name, []).append(services["ours"]["served_rps"] / row["served_rps"])
    return {name: (min(values), max(values)) for name, values in ratios.items()}


def against(ratio: float, goal: float | None = None) -> str:
    """`ratio` to 2 decimals, or to as many more as it takes not to read as the goal itself: 0.8996
    against 0.9 shows as 0.8996, not as 0.90 beside "missed"."""
    for digits in range(2, 7):
        text = f"{ratio:.{digits}f}"
        if goal is None or ratio == goal or float(text) != goal:
            break
    return text


def span(low: float, high: float, goal: float | None = None) -> str:
    """ "1.87-2.00x", or one figure when both read the same; against `goal`, no end reads as the goal
    unless it is it (1.996 against 2: "1.996-2.10x")."""
    low_text, high_text = against(low, goal), against(high, goal)
    return f"{low_text}x" if low_text == high_text else f"{low_text}-{high_text}x"


def compare_block(compare_md: str, compare: Doc) -> str:
    spans = compare_ratios(compare)
    rounds = [r for r in _rounds(compare) if "naive" in r and "ours" in r]
    text = _table(compare_md, "| round | service") + "\n\n"
    naive = spans.get("naive")
    if naive:
        p50 = [r["ours"]["p50_ms"] / r["naive"]["p50_ms"] for r in rounds]
        p99 = [r["ours"]["p99_ms"] / r["naive"]["p99_ms"] for r in rounds]
        text += (
            f"Ours served **{span(*naive)}** the naive service's throughput"
            + (f" and **{span(*spans['bentoml'])}** BentoML's" if "bentoml" in spans else "")
            + f" (finished {compare['finished']}); its p50 was {span(min(p50), max(p50))} the naive one's "
            f"and its p99 {span(min(p99), max(p99))}."
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
