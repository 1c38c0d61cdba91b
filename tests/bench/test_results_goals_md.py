"""The goal-side Results blocks in cases the CI-sized runs do not reach (bench-batching's two thread
counts, a preset=auto choice outside the bench's matrix), from documents shaped as the commands write
them."""

from __future__ import annotations

import json
from pathlib import Path

from service.bench.results_goals_md import (
    NO_BENCH,
    RSS_FLAT_GROWTH_MIB,
    auto_block,
    batching_server_block,
    goals_block,
    grid_block,
)
from service.bench.results_md import Doc
from tests.readme import section


def test_batching_block_puts_the_thread_counts_side_by_side() -> None:
    def run(threads: int, rps: list[float]) -> dict:
        names = ("window 0 ms", "window 2 ms", "queued")
        loads = {
            name: {"rps": r, "p50_ms": 30.0, "p99_ms": 45.0, "mean_batch": w or None}
            for name, w, r in zip(names, (0, 2, 3), rps, strict=True)
        }
        machine = {"started_utc": f"T{threads}", "load_average": [1.2, 1.0, 1.0]}
        return {"threads": threads, "machine": machine, "loads": loads}

    text = batching_server_block([run(2, [170.0, 190.0, 200.0]), run(1, [240.0, 255.0, 260.0])])
    first = "Runs: 1 thread(s): T1 (load average 1.2), 2 thread(s): T2 (load average 1.2)."
    assert text.splitlines()[0] == first
    assert "| off | 240.0 | 30.0 | 45.0 | 1.00 | 170.0 | 30.0 | 45.0 | 1.00 |" in text
    assert "| 2 ms | 255.0 | 30.0 | 45.0 | 2.00 | 190.0 | 30.0 | 45.0 | 2.00 |" in text
    assert "| queued (no window) | 260.0 | 30.0 | 45.0 | 3.00 | 200.0 | 30.0 | 45.0 | 3.00 |" in text
    older = run(2, [170.0, 190.0, 200.0])
    del older["loads"]["queued"]  # a run of a version before queued batching
    text = batching_server_block([older, run(1, [240.0, 255.0, 260.0])])
    assert "| queued (no window) | 260.0 | 30.0 | 45.0 | 3.00 | - | - | - | - |" in text


def test_a_choice_the_bench_did_not_measure_is_shown_without_a_ratio() -> None:
    auto = {"engine": "litert", "precision": "int8", "kernels": "builtin", "threads": 1}
    measured = {"engine": "onnxruntime", "precision": "int8", "kernels": None, "threads": 1}
    goals = {
        "auto_vs_bench": {
            "mobilenet_v2": {"auto": auto, "best": "onnxruntime int8 t1", "best_p50_ms": 5.0, "ratio": None},
            "blazeface_short": {
                "auto": measured,
                "best": "onnxruntime int8 t1",
                "best_p50_ms": 1.0,
                "auto_p50_ms_in_bench": 1.05,
                "ratio": 1.05,
            },
        }
    }
    rows = auto_block(goals).splitlines()
    assert rows[2:] == [
        "| mobilenet_v2 | litert-builtin int8 t1 | not in the bench | onnxruntime int8 t1 | 5.0 | "
        "| not timed | |",
        "| blazeface_short | onnxruntime int8 t1 | 1.05 | onnxruntime int8 t1 | 1.0 | 1.05x | not timed | |",
    ]


def test_the_auto_goal_is_judged_only_when_the_bench_measured_every_choice(goals_out: Path) -> None:
    goals = json.loads((goals_out / "goals.json").read_text())
    auto = {"engine": "onnxruntime", "precision": "int8", "kernels": None, "threads": 1}
    measured = {"auto": auto, "best": "onnxruntime int8 t1", "best_p50_ms": 1.0, "auto_p50_ms_in_bench": 1.0}
    goals["auto_vs_bench"] = {"blazeface_short": measured | {"ratio": 1.0}}

    def auto_row() -> str:
        (row,) = [line for line in goals_block(goals, None).splitlines() if "`preset=auto`" in line]
        return row

    assert auto_row().endswith("| met |")
    builtin = auto | {"engine": "litert", "kernels": "builtin"}
    goals["auto_vs_bench"]["mobilenet_v2"] = {"auto": builtin, "best": "x", "best_p50_ms": 5.0, "ratio": None}
    assert "mobilenet_v2: auto = litert-builtin int8 t1, not in the bench" in auto_row()
    assert auto_row().endswith("|  |")  # no verdict: one choice was not measured
    goals["auto_vs_bench"] = {"note": "bench.json not found"}
    assert auto_row().endswith(f"| {NO_BENCH} |  |")


def test_the_auto_goal_is_judged_on_the_side_by_side_timing_when_there_is_one(goals_out: Path) -> None:
    """The bench's cells were timed minutes apart: its ratio is shown, the one timed now is judged,
    unrounded (1.1004 shows as 1.10x and misses)."""
    goals = json.loads((goals_out / "goals.json").read_text())
    auto = {"engine": "onnxruntime", "precision": "fp32", "kernels": None, "threads": 2}
    best = {"best": "onnxruntime int8 t2", "best_p50_ms": 9.436}
    noisy = {"auto": auto, **best, "auto_p50_ms_in_bench": 10.655, "ratio": 1.129}

    def with_now(ratio: float) -> Doc:
        timed = {"same_configuration": False, "auto_p50_ms": 8.8, "best_p50_ms": 8.8 / ratio, "runs": 100}
        return {"mobilenet_v2": noisy | {"side_by_side": timed | {"ratio": ratio}}}

    def auto_row() -> str:
        (row,) = [line for line in goals_block(goals, None).splitlines() if "`preset=auto`" in line]
        return row

    goals["auto_vs_bench"] = with_now(1.02)
    assert "**1.02x** side by side (in the bench: 10.655 vs 9.436 ms, 1.13x)" in auto_row()
    assert auto_row().endswith("| met |")
    goals["auto_vs_bench"] = with_now(1.1004)
    assert "**1.1004x** side by side" in auto_row() and auto_row().endswith("| **missed** |")
    assert auto_block(goals).splitlines()[2] == (
        "| mobilenet_v2 | onnxruntime fp32 t2 | 10.655 | onnxruntime int8 t2 | 9.436 | 1.13x "
        f"| 8.8 / {8.8 / 1.1004} | 1.10x |"
    )
    same = {"same_configuration": True, "ratio": 1.0}
    goals["auto_vs_bench"] = {
        "mobilenet_v2": noisy | {"auto_p50_ms_in_bench": 9.436, "ratio": 1.0, "side_by_side": same}
    }
    assert "**1.00x** side by side (the same configuration)" in auto_row()
    assert "| the same configuration | 1.00x |" in auto_block(goals)
    # one model not timed now (bench-goals says why): that one is judged on the bench's cells
    untimed = noisy | {
        "auto_p50_ms_in_bench": 9.9,
        "ratio": 1.049,
        "side_by_side": {"note": "{...}: not_ready"},
    }
    goals["auto_vs_bench"] = with_now(1.02) | {"blazeface_short": untimed}
    assert "(not timed side by side: {...}: not_ready)" in auto_row() and auto_row().endswith("| met |")
    assert auto_block(goals).endswith("| {...}: not_ready | |")
    # a goals.json from before the side-by-side timing: judged on the bench's cells, as then
    goals["auto_vs_bench"] = {"mobilenet_v2": noisy}
    assert "(10.655 ms) vs best onnxruntime int8 t2 (9.436 ms): **1.13x**" in auto_row()
    assert auto_row().endswith("| **missed** |") and auto_block(goals).endswith("| not timed | |")


def test_the_rss_goal_is_missed_when_requests_failed(goals_out: Path) -> None:
    """Flat over 10,000 requests says nothing when they were refused: failures miss the goal."""
    goals = json.loads((goals_out / "goals.json").read_text())

    def rss_row() -> str:
        (row,) = [line for line in goals_block(goals, None).splitlines() if "| RSS of" in line]
        return row

    goals["rss"] |= {"growth_after_first_step_mb": 0.0, "failed": 0}  # well under the limit, flat
    assert rss_row().endswith("(0 failed) | met |")
    goals["rss"]["failed"] = 40
    assert rss_row().endswith("(40 failed) | **missed** |")


def test_figures_a_noisy_host_made_impossible_are_named_so_not_printed_as_negative(goals_out: Path) -> None:
    """Two measures taken seconds apart on a shared host can disagree: the pipeline (engine + more) faster
    than the engine alone, or HTTP faster than the same app without it. The prose says the run does not
    split them, rather than printing a negative share of CPU or time."""
    goals = json.loads((goals_out / "goals.json").read_text())
    saturation = goals["saturation"]
    engine = goals["loads"][saturation["best_engine"]]
    pipeline = next(v for k, v in goals["loads"].items() if k.startswith("pipeline"))
    pipeline["rps"] = engine["rps"] * 1.1
    goals["http_overhead"] |= {
        "asgi_handler_overhead_ms": 0.8,
        "asgi_app_over_handler_ms": 2.4,
        "http_over_asgi_app_ms": -0.55,
    }
    text = goals_block(goals, None)
    assert "does not give the pipeline's ceiling" in text and "the in-process ceiling" not in text
    assert "took 0.55 ms less than the same app without HTTP" in text and "remaining" not in text
    assert "~-" not in text and "**-" not in text
    pipeline["rps"], goals["http_overhead"]["http_over_asgi_app_ms"] = engine["rps"] * 0.8, 0.44
    text = goals_block(goals, None)
    assert "the in-process ceiling is" in text and "the remaining **0.44 ms**" in text
    saturation["default"]["rps"] = engine["rps"] * 0.95
    assert "**Where the CPU goes at saturation**" in goals_block(goals, None)


def test_the_decode_goal_without_its_picture_is_not_measured_and_not_judged(goals_out: Path) -> None:
    """bench-goals skips the 1080p decode goal when it has no such picture (a host without
    ../shared/images): the table says so, with no verdict, rather than refusing the whole README."""
    goals = json.loads((goals_out / "goals.json").read_text())
    del goals["decode_preprocess"], goals["decode_by_format"]
    (row,) = [line for line in goals_block(goals, None).splitlines() if "decode + preprocess |" in line]
    assert row == (
        "| 1080p JPEG decode + preprocess | <= 3 ms | not measured: bench-goals had no 1080p JPEG "
        "(`--large-image`) | |"
    )


def test_the_baseline_goal_is_not_met_while_bentoml_was_not_measured(goals_out: Path) -> None:
    """The goal is 2x the naive service and at least BentoML: with BentoML's round missing from
    compare.json (no venv), half of it was measured, so no verdict; a naive ratio below 2x misses it
    whatever BentoML would have done."""
    goals = json.loads((goals_out / "goals.json").read_text())

    def baseline_row(served: dict[str, float]) -> str:
        rows = [{"round": 1, "service": name, "served_rps": rps, "rps": rps} for name, rps in served.items()]
        rows.append({"round": 1, "service": "bentoml", "missing": "its venv is missing"})
        (row,) = [
            line for line in goals_block(goals, {"results": rows}).splitlines() if "naive baseline" in line
        ]
        return row

    row = baseline_row({"ours": 200.0, "naive": 80.0})
    assert "**2.50x** naive; no BentoML figure in compare.json" in row and row.endswith("| |")
    assert baseline_row({"ours": 120.0, "naive": 80.0}).endswith("| **missed** |")


def test_a_baseline_ratio_that_rounds_onto_its_goal_does_not_read_as_it(goals_out: Path) -> None:
    """1.996x the naive service misses the 2x goal, so it shows as 1.996x, not as 2.00x beside "missed"."""
    goals = json.loads((goals_out / "goals.json").read_text())
    rows = [
        {"round": r, "service": name, "served_rps": rps, "rps": rps}
        for r, served in (
            (1, {"ours": 199.6, "naive": 100.0, "bentoml": 99.9}),
            (2, {"ours": 210.0, "naive": 100.0}),
        )
        for name, rps in served.items()
    ]
    (row,) = [line for line in goals_block(goals, {"results": rows}).splitlines() if "naive baseline" in line]
    assert "**1.996-2.10x** naive, **2.00x** BentoML" in row and row.endswith("| **missed** |")


def test_the_p99_goal_is_missed_when_requests_failed_under_load(goals_out: Path) -> None:
    """The saturation percentiles are of the answered requests only: fast refusals (503 overloaded)
    leave the slow tail out, so a p99 within 3x of p50 says nothing when requests failed."""
    goals = json.loads((goals_out / "goals.json").read_text())
    default = goals["saturation"]["default"]
    default |= {"p50_ms": 30.0, "p99_ms": 45.0, "p99_over_p50": 1.5, "failures": {}}

    def p99_row() -> str:
        (row,) = [line for line in goals_block(goals, None).splitlines() if "| p99 at saturation" in line]
        return row

    assert p99_row().endswith("= **1.50x** | met |")
    default["failures"] = {"503": 12}
    assert p99_row().endswith("= **1.50x** (12 failed: 12 x 503) | **missed** |")


def test_a_ratio_that_rounds_onto_its_goal_is_judged_unrounded(goals_out: Path) -> None:
    """goals.json rounds its ratios (default_vs_engine and the auto ratio to 3 decimals, p99_over_p50 to
    2): each verdict comes from the measures themselves, and the figure shows as many decimals as it
    takes not to read as the goal beside "missed"."""
    goals = json.loads((goals_out / "goals.json").read_text())
    saturation = goals["saturation"]
    goals["loads"][saturation["best_engine"]]["rps"] = 1000.0
    saturation["default"] |= {"rps": 899.6, "p50_ms": 10.0, "p99_ms": 30.04, "failures": {}}
    saturation["default"]["p99_over_p50"], saturation["default_vs_engine"] = 3.0, 0.9  # as rounded
    auto = {"engine": "onnxruntime", "precision": "int8", "kernels": None, "threads": 1}
    measured = {
        "auto": auto,
        "best": "onnxruntime int8 t1",
        "best_p50_ms": 1.0,
        "auto_p50_ms_in_bench": 1.1004,
    }
    goals["auto_vs_bench"] = {"mobilenet_v2": measured | {"ratio": 1.1}}
    text = goals_block(goals, None)

    def row(start: str) -> str:
        (found,) = [line for line in text.splitlines() if line.startswith(start)]
        return found

    assert row("| saturation throughput").endswith(" | **missed** |")
    assert "**0.8996x**" in row("| saturation throughput")
    assert "**Why saturation stays below 0.9x**" in text
    assert row("| p99 at saturation").endswith("= **3.004x** | **missed** |")
    assert row("| `preset=auto`").endswith("**1.1004x** | **missed** |")
    saturation["default"] |= {"rps": 900.0, "p99_ms": 30.0}
    goals["auto_vs_bench"]["mobilenet_v2"]["auto_p50_ms_in_bench"] = 1.1
    text = goals_block(goals, None)
    assert row("| saturation throughput").endswith(" | met |") and "**0.90x**" in text
    assert row("| p99 at saturation").endswith("= **3.00x** | met |")
    assert row("| `preset=auto`").endswith("**1.10x** | met |")


def test_rss_figures_are_labelled_mib_as_they_are_measured(goals_out: Path) -> None:
    """tree_rss_mb divides bytes by 2**20: the tables said MB of those MiB."""
    goals = json.loads((goals_out / "goals.json").read_text())
    (row,) = [line for line in goals_block(goals, None).splitlines() if "| RSS of" in line]
    assert "| <= 300 MiB, flat over " in row and "MiB** max; " in row
    assert " MB" not in row
    assert "| RSS MiB after |" in grid_block(goals).splitlines()[0]


def test_the_readme_states_the_flat_rss_rule_the_verdict_applies(goals_out: Path) -> None:
    """The RSS goal says "flat": the README's Goals section says what that is, with the verdict's number,
    which holds between the two and misses from it on."""
    said = " ".join(section("### Goals (same run)").split())
    assert f"counts as flat when it grows by less than {RSS_FLAT_GROWTH_MIB} MiB" in said
    goals = json.loads((goals_out / "goals.json").read_text())
    goals["rss"] |= {"max_mb": 100.0, "failed": 0}

    def verdict(growth: float) -> str:
        goals["rss"]["growth_after_first_step_mb"] = growth
        (row,) = [line for line in goals_block(goals, None).splitlines() if "| RSS of" in line]
        return row.rsplit("|", 2)[1].strip()

    assert verdict(RSS_FLAT_GROWTH_MIB - 0.1) == "met" and verdict(RSS_FLAT_GROWTH_MIB) == "**missed**"
