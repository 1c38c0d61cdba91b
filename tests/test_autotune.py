"""preset=auto's measurement, for real on this host (the choice, never the timings)."""

from __future__ import annotations

from service.artifacts import ArtifactLayout
from service.autotune import WIDER_MARGIN, Measurement, candidates, pick, tune
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


def test_tune_measures_every_candidate_and_picks_by_the_rule(
    manifest: Manifest, layout: ArtifactLayout
) -> None:
    spec = manifest.get("blazeface_short")
    choice = tune(spec, layout, rounds=3, warmup=1)
    assert choice.model == "blazeface_short"
    assert [m.settings for m in choice.measurements] == candidates(spec)
    assert all(m.runs == 3 and m.p50_ms > 0 for m in choice.measurements)
    assert choice.choice == pick(choice.measurements).settings
    report = choice.as_dict()
    assert report["choice"] == choice.choice.model_dump()
    assert [m["p50_ms"] for m in report["measurements"]] == sorted(m.p50_ms for m in choice.measurements)
    assert report["measured_with"] == {"ort_int8_weights": "auto", "ort_spinning": False}


def test_pick_prefers_one_thread_unless_more_threads_are_clearly_faster(manifest: Manifest) -> None:
    one, wide = [c for c in candidates(manifest.get("mobilenet_v2"), cores=2) if c.engine == "onnxruntime"][
        :2
    ]
    assert (one.threads, wide.threads) == (1, 2)
    close = [Measurement(one, 5.0, 10), Measurement(wide, 5.0 / WIDER_MARGIN + 0.01, 10)]
    assert pick(close).settings == one
    clear = [Measurement(one, 5.0, 10), Measurement(wide, 5.0 / WIDER_MARGIN - 0.01, 10)]
    assert pick(clear).settings == wide
    assert pick([Measurement(wide, 9.0, 10), Measurement(one, 4.0, 10)]).settings == one
