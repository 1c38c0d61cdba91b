"""The ratios of a bench run, from results as the matrix run makes them: each named `A vs B` with the
value B's p50 / A's, how many times faster A is."""

from __future__ import annotations

from service.bench.matrix import Cell, Mode
from service.bench.ratios import compute_ratios
from service.bench.run import Result
from service.bench.stats import Stats


def _result(cell: Cell, p50_ms: float, mode: Mode = "engine") -> Result:
    return Result(cell, mode, Stats.of([p50_ms]))


def test_every_speedup_names_the_faster_expected_side_first() -> None:
    """The thread speedup was named `t1 vs t2` with t1 / t2 as its value, the other way round from the
    SIMD and int8 ones beside it in the same table (`litert-xnnpack vs litert-reference`: reference /
    XNNPACK): read as the others, 1.48x said 1 thread was the faster."""
    model = "mobilenet_v2"
    results = [
        _result(Cell(model, "onnxruntime", "int8", None, 1), 8.0),
        _result(Cell(model, "onnxruntime", "int8", None, 2), 4.0),
        _result(Cell(model, "onnxruntime", "fp32", None, 1), 10.0),
        _result(Cell(model, "litert", "int8", "xnnpack", 1), 16.0),
        _result(Cell(model, "litert", "int8", "reference", 1), 160.0),
    ]
    named = {r.name: r.value for r in compute_ratios(results)}
    assert named["onnxruntime int8 t2 vs t1"] == 2.0
    assert named["litert-xnnpack vs litert-reference (int8, t1)"] == 10.0
    assert named["onnxruntime vs litert-reference (int8, t1)"] == 20.0
    assert named["onnxruntime int8 vs fp32 (t1)"] == 1.25
    assert "onnxruntime int8 t1 vs t2" not in named
