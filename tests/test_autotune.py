"""preset=auto's measurement, for real on this host (the choice, never the timings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout
from service.autotune import WIDER_MARGIN, AutoChoice, Measurement, candidates, pick, tune
from service.errors import NotReady
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
    # as another worker process reads it (service/shared_auto.py)
    read = AutoChoice.from_dict("blazeface_short", report)
    assert read.as_dict() == report and read.choice == choice.choice and read.model == choice.model


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


def test_a_candidate_this_host_cannot_build_is_skipped_and_the_others_measured(
    manifest: Manifest, layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A models folder with BlazeFace's tflite but no ONNX file (an image that copied only the
    tflite): onnxruntime's candidates cannot be built, LiteRT's are measured and one is chosen."""
    own = ArtifactLayout(tmp_path)
    own.model_dir("blazeface_short").mkdir(parents=True)
    shutil.copy(layout.manifest, own.manifest)
    shutil.copy(layout.tflite("blazeface_short"), own.tflite("blazeface_short"))
    spec = manifest.get("blazeface_short")
    choice = tune(spec, own, rounds=2, warmup=1)
    every = candidates(spec)
    assert [m.settings for m in choice.measurements] == [s for s in every if s.engine == "litert"]
    assert [s.settings for s in choice.skipped] == [s for s in every if s.engine == "onnxruntime"]
    assert all("fp32.onnx is missing" in s.why for s in choice.skipped)
    assert choice.choice.engine == "litert"
    report = choice.as_dict()["skipped"]
    assert [s["engine"] for s in report] == ["onnxruntime"] * len(choice.skipped)
    assert all("fp32.onnx is missing" in s["why"] for s in report)


def test_no_candidate_that_runs_here_is_a_clear_error(
    manifest: Manifest, layout: ArtifactLayout, tmp_path: Path
) -> None:
    own = ArtifactLayout(tmp_path)
    own.model_dir("blazeface_short").mkdir(parents=True)
    shutil.copy(layout.manifest, own.manifest)
    with pytest.raises(NotReady, match="no candidate setting of blazeface_short runs here"):
        tune(manifest.get("blazeface_short"), own, rounds=2, warmup=1)
