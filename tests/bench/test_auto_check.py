"""preset=auto against a real (quick) bench run: the best cell is the bench's fastest SIMD cell, the
ratio is auto's own cell in that bench against it, and the two are timed again side by side."""

from __future__ import annotations

import json
from pathlib import Path

from service.artifacts import ArtifactLayout
from service.bench.auto_check import auto_vs_bench
from service.manifest import Manifest


def test_auto_is_compared_with_the_best_simd_cell_of_the_bench(
    bench_out: Path, layout: ArtifactLayout, manifest: Manifest
) -> None:
    rows = [r for r in json.loads((bench_out / "bench.json").read_text())["results"] if r["mode"] == "engine"]
    compared = auto_vs_bench(layout, manifest, bench_out / "bench.json", rounds=3, side_by_side_rounds=4)
    assert set(compared) == {"blazeface_short", "mobilenet_v2"}  # the models the bench ran
    for model, figures in compared.items():
        cells = [r for r in rows if r["model"] == model and r["kernels"] != "reference"]
        assert figures["best_p50_ms"] == min(r["p50_ms"] for r in cells)
        auto = figures["auto"]
        mine = [
            r
            for r in cells
            if (r["engine"], r["precision"], r["kernels"], r["threads"])
            == (auto["engine"], auto["precision"], auto["kernels"], auto["threads"])
        ]
        seen = [{k: m[k] for k in auto} for m in figures["auto_measurements"]]
        assert auto in seen  # what auto measured is reported beside its choice
        assert all(m["runs"] == 3 and m["p50_ms"] > 0 for m in figures["auto_measurements"])
        assert figures["load_average_1m"] >= 0
        if mine:  # the quick bench has onnxruntime and XNNPACK only: auto may pick another
            assert figures["auto_p50_ms_in_bench"] == mine[0]["p50_ms"]
            assert figures["ratio"] == round(mine[0]["p50_ms"] / figures["best_p50_ms"], 3) >= 1.0
        else:
            assert figures["auto_p50_ms_in_bench"] is None and figures["ratio"] is None
        now = figures["side_by_side"]
        best = next(r for r in cells if r["p50_ms"] == figures["best_p50_ms"])
        if mine and mine[0] is best:
            assert now == {"same_configuration": True, "ratio": 1.0}
        else:
            assert now["same_configuration"] is False and now["runs"] == 4
            assert now["ratio"] == now["auto_p50_ms"] / now["best_p50_ms"] > 0


def test_a_cell_fast_by_chance_is_timed_again_beside_auto_s_choice(
    bench_out: Path, layout: ArtifactLayout, manifest: Manifest, tmp_path: Path
) -> None:
    """The bench's best cell is whatever measured fastest minutes ago: here LiteRT's builtin kernels,
    given a p50 no run of them gets. They are timed again beside auto's choice, and the bench's own
    ratio still says what the bench file holds."""
    document = json.loads((bench_out / "bench.json").read_text())
    xnnpack = next(
        r
        for r in document["results"]
        if r["mode"] == "engine" and r["model"] == "blazeface_short" and r["kernels"] == "xnnpack"
    )
    lucky = xnnpack | {"backend": "litert-builtin", "kernels": "builtin", "threads": 1, "p50_ms": 0.001}
    document["results"].append(lucky)
    (tmp_path / "bench.json").write_text(json.dumps(document))
    figures = auto_vs_bench(layout, manifest, tmp_path / "bench.json", rounds=3, side_by_side_rounds=10)[
        "blazeface_short"
    ]
    assert figures["best"] == "litert-builtin fp32 t1" and figures["best_p50_ms"] == 0.001
    assert figures["auto"]["kernels"] != "builtin"  # auto measured them too: about 2x slower here
    assert figures["ratio"] is None or figures["ratio"] > 100  # the bench's cells, as they are
    now = figures["side_by_side"]
    assert now["same_configuration"] is False and now["runs"] == 10
    assert now["best_p50_ms"] > 0.01 and now["auto_p50_ms"] > 0  # timed, not read from the file
    assert now["ratio"] == now["auto_p50_ms"] / now["best_p50_ms"]


def test_a_cell_the_bench_could_not_run_is_left_out(
    bench_out: Path, layout: ArtifactLayout, manifest: Manifest, tmp_path: Path
) -> None:
    """A failed cell has an error and no figures: it is neither the best cell nor auto's."""
    document = json.loads((bench_out / "bench.json").read_text())
    first = next(r for r in document["results"] if r["mode"] == "engine" and r["model"] == "mobilenet_v2")
    failed = first | {"threads": 7, "p50_ms": None, "p99_ms": None, "error": "RuntimeError: cannot load"}
    document["results"].append(failed)
    (tmp_path / "bench.json").write_text(json.dumps(document))
    compared = auto_vs_bench(layout, manifest, tmp_path / "bench.json", rounds=1)
    assert compared["mobilenet_v2"]["best_p50_ms"] == min(
        r["p50_ms"]
        for r in document["results"]
        if r["mode"] == "engine"
        and r["model"] == "mobilenet_v2"
        and r["kernels"] != "reference"
        and r is not failed
    )


def test_a_model_the_bench_ran_only_on_scalar_kernels_gets_a_note(
    bench_out: Path, layout: ArtifactLayout, manifest: Manifest, tmp_path: Path
) -> None:
    """auto never picks the reference kernels: with no SIMD cell of a model there is no best cell."""
    document = json.loads((bench_out / "bench.json").read_text())
    engine = [r for r in document["results"] if r["mode"] == "engine" and r["model"] == "mobilenet_v2"]
    scalar = engine[0] | {
        "engine": "litert",
        "backend": "litert-reference",
        "kernels": "reference",
        "threads": 1,
    }
    document["results"] = [r for r in document["results"] if r not in engine] + [scalar]
    (tmp_path / "bench.json").write_text(json.dumps(document))
    compared = auto_vs_bench(layout, manifest, tmp_path / "bench.json", rounds=1)
    assert "no SIMD cell" in compared["mobilenet_v2"]["note"]
    assert compared["blazeface_short"]["ratio"] is None or compared["blazeface_short"]["ratio"] >= 1.0


def test_a_bench_json_of_another_schema_is_not_compared(
    bench_out: Path, layout: ArtifactLayout, manifest: Manifest, tmp_path: Path
) -> None:
    document = json.loads((bench_out / "bench.json").read_text())
    document["schema"] = "0"
    (tmp_path / "bench.json").write_text(json.dumps(document))
    compared = auto_vs_bench(layout, manifest, tmp_path / "bench.json", rounds=1)
    assert compared == {
        "note": f"{tmp_path / 'bench.json'} has schema '0'; this version reads schema 1: rerun `make bench`"
    }
