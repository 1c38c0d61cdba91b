"""The preset=auto goal of bench-goals: the configuration auto picks on this host (measured now)
against the best engine-mode cell of the bench run beside it (bench.json): by the bench's own figures,
and timed again side by side now, each in turn. The bench's cells were timed minutes apart, under
whatever load each met, so one noisy cell can move their ratio by more than the goal's 10 %."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from service.artifacts import ArtifactLayout
from service.autotune import ROUNDS, measure, tune
from service.bench.bench_json import OtherBenchSchema, read_bench_json
from service.engines.registry import resolve
from service.errors import NotReady
from service.manifest import Manifest, ModelSpec
from service.settings import EngineSettings

# about 2 s for MobileNetV2 here: enough for a median two configurations 5 % apart do not swap
SIDE_BY_SIDE_ROUNDS = 100


def auto_vs_bench(
    layout: ArtifactLayout,
    manifest: Manifest,
    bench_json: Path,
    rounds: int = ROUNDS,
    side_by_side_rounds: int = SIDE_BY_SIDE_ROUNDS,
) -> dict:
    """preset=auto's choice (measured now) against the best engine-mode cell of the bench run. `rounds`:
    preset=auto's own measurement (as the server runs it unless a test asks for fewer)."""
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
        spec = manifest.get(name)
        tuned = tune(spec, layout, rounds=rounds)
        choice = tuned.choice
        best = min(cells, key=lambda r: r["p50_ms"])
        picked = next((r for r in cells if _settings_of(spec, r) == choice), None)
        out[name] = {
            "auto": choice.model_dump(),
            "best": f"{best['backend']} {best['precision']} t{best['threads']}",
            "best_p50_ms": best["p50_ms"],
            "auto_p50_ms_in_bench": picked and picked["p50_ms"],
            "ratio": picked and round(picked["p50_ms"] / best["p50_ms"], 3),
            "side_by_side": _side_by_side(
                spec, layout, choice, _settings_of(spec, best), side_by_side_rounds
            ),
            # what auto saw when it chose, and how busy the host was then: a choice that differs from the
            # bench's best can be told from a busy moment (a 2-thread run loses most when a core is taken)
            "auto_measurements": tuned.as_dict()["measurements"],
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    return out


def _settings_of(spec: ModelSpec, cell: dict[str, Any]) -> EngineSettings:
    """A bench cell's configuration as the settings a request names (resolved as auto's choice is)."""
    return resolve(
        spec,
        EngineSettings(
            engine=cell["engine"],
            precision=cell["precision"],
            kernels=cell["kernels"],
            threads=cell["threads"],
        ),
    )


def _side_by_side(
    spec: ModelSpec, layout: ArtifactLayout, choice: EngineSettings, best: EngineSettings, rounds: int
) -> dict[str, Any]:
    """auto's choice and the bench's best timed now, each in turn. The same configuration: ratio 1."""
    if choice == best:
        return {"same_configuration": True, "ratio": 1.0}
    try:
        timed, skipped = measure(spec, [choice, best], layout, rounds=rounds)
    except NotReady as exc:  # neither runs now: the other figures of the run still count
        return {"note": str(exc)}
    if skipped:  # each ran minutes ago: whatever stops one now is said, not hidden in a ratio
        return {"note": "; ".join(f"{s.settings.model_dump()}: {s.why}" for s in skipped)}
    auto, fastest = timed
    return {
        "same_configuration": False,
        "auto_p50_ms": auto.p50_ms,
        "best_p50_ms": fastest.p50_ms,
        "runs": auto.runs,
        "ratio": auto.p50_ms / fastest.p50_ms,
    }
