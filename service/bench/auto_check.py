"""The preset=auto goal of bench-goals: the configuration auto picks on this host (measured now)
against the best engine-mode cell of the bench run beside it (bench.json)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from service.artifacts import ArtifactLayout
from service.autotune import ROUNDS, tune
from service.bench.bench_json import OtherBenchSchema, read_bench_json
from service.manifest import Manifest


def auto_vs_bench(layout: ArtifactLayout, manifest: Manifest, bench_json: Path, rounds: int = ROUNDS) -> dict:
    """preset=auto's choice (measured now) against the best engine-mode cell of the bench run, both
    read from the bench's own figures. `rounds`: preset=auto's own measurement (as the server runs it
    unless a test asks for fewer)."""
    if not bench_json.exists():
        return {"note": f"{bench_json} not found: run `make bench` first"}
    try:
        document = read_bench_json(bench_json)
    except OtherBenchSchema as exc:
        return {"note": str(exc)}
    # cells that failed have no figures to compare with
    rows = [r for r in document["results"] if r["mode"] == "engine" and not r.get("error")]
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        cells = [r for r in rows if r["model"] == name and r["kernels"] != "reference"]
        if not cells:  # e.g. `bench --kernels reference`: auto never picks the scalar kernels
            out[name] = {"note": "the bench ran no SIMD cell of this model: nothing to compare auto with"}
            continue
        tuned = tune(manifest.get(name), layout, rounds=rounds)
        choice = tuned.choice
        best = min(cells, key=lambda r: r["p50_ms"])
        picked = next(
            (
                r
                for r in cells
                if (r["engine"], r["precision"], r["kernels"], r["threads"])
                == (choice.engine, choice.precision, choice.kernels, choice.threads)
            ),
            None,
        )
        out[name] = {
            "auto": choice.model_dump(),
            "best": f"{best['backend']} {best['precision']} t{best['threads']}",
            "best_p50_ms": best["p50_ms"],
            "auto_p50_ms_in_bench": picked and picked["p50_ms"],
            "ratio": picked and round(picked["p50_ms"] / best["p50_ms"], 3),
            # what auto saw when it chose, and how busy the host was then: a choice that differs from the
            # bench's best can be told from a busy moment (a 2-thread run loses most when a core is taken)
            "auto_measurements": tuned.as_dict()["measurements"],
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    return out
