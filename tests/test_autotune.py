"""preset=auto's measurement, for real on this host (the choice, never the timings)."""

from __future__ import annotations

from service.artifacts import ArtifactLayout
from service.autotune import candidates, tune
from service.manifest import Manifest
from service.settings import CPU_COUNT


def test_candidates_cover_engines_precisions_and_threads_but_not_the_scalar_kernels(
    manifest: Manifest,
) -> None:
    found = candidates(manifest.get("mobilenet_v2"))
    threads = {1, CPU_COUNT}
    assert {(c.engine, c.precision, c.kernels, c.threads) for c in found} == (
        {("onnxruntime", p, None, t) for p in ("int8", "fp32") for t in threads}
        | {("litert", "int8", k, t) for k in ("xnnpack", "builtin") for t in threads}
    )
    assert all(c.simd for c in found)


def test_tune_measures_every_candidate_and_picks_the_fastest(
    manifest: Manifest, layout: ArtifactLayout
) -> None:
    spec = manifest.get("blazeface_short")
    choice = tune(spec, layout, rounds=3, warmup=1)
    assert choice.model == "blazeface_short"
    assert [m.settings for m in choice.measurements] == candidates(spec)
    assert all(m.runs == 3 and m.p50_ms > 0 for m in choice.measurements)
    assert choice.choice == min(choice.measurements, key=lambda m: m.p50_ms).settings
    report = choice.as_dict()
    assert report["choice"] == choice.choice.model_dump()
    assert [m["p50_ms"] for m in report["measurements"]] == sorted(m.p50_ms for m in choice.measurements)
