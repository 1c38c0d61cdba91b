"""The ratios users ask about, from p50 latencies: SIMD speedup, thread speedup, int8 vs fp32 (engine
mode), and the HTTP overhead (HTTP p50 - in-process pipeline p50, per cell)."""

from __future__ import annotations

from dataclasses import dataclass

from service.bench.matrix import Cell, Mode
from service.bench.run import Result


@dataclass(frozen=True)
class Ratio:
    kind: str  # simd_speedup | thread_speedup | int8_vs_fp32 | http_overhead_ms
    model: str
    name: str  # what is compared, e.g. "litert-xnnpack vs litert-reference (t1)"
    value: float  # a speedup (slow p50 / fast p50) or, for http_overhead_ms, a difference in ms
    numerator_ms: float
    denominator_ms: float


def _p50(results: list[Result], mode: Mode) -> dict[Cell, float]:
    return {r.cell: r.stats.p50_ms for r in results if r.mode == mode and r.stats is not None}


def _speedup(kind: str, model: str, name: str, slow: float, fast: float) -> Ratio:
    return Ratio(kind, model, name, round(slow / fast, 2), slow, fast)


def compute_ratios(results: list[Result], mode: Mode = "engine") -> list[Ratio]:
    p50 = _p50(results, mode)
    ratios: list[Ratio] = []
    models = sorted({c.model for c in p50}, key=[c.model for c in p50].index)
    for model in models:
        cells = {c: v for c, v in p50.items() if c.model == model}
        single = {(c.backend, c.precision): v for c, v in cells.items() if c.threads == 1}
        # SIMD: the scalar reference kernels against each SIMD engine, on the model's native precision
        reference = next(((b, p) for (b, p) in single if b == "litert-reference"), None)
        if reference is not None:
            native = reference[1]
            for backend in ("litert-xnnpack", "litert-builtin", "onnxruntime"):
                if (backend, native) in single:
                    ratios.append(
                        _speedup(
                            "simd_speedup",
                            model,
                            f"{backend} vs litert-reference ({native}, t1)",
                            single[reference],
                            single[(backend, native)],
                        )
                    )
        for (backend, precision), slow in single.items():
            if backend == "onnxruntime" and ("litert-xnnpack", precision) in single:
                ratios.append(
                    _speedup(
                        "simd_speedup",
                        model,
                        f"litert-xnnpack vs onnxruntime ({precision}, t1)",
                        slow,
                        single[("litert-xnnpack", precision)],
                    )
                )
        # threads: each wider count against 1, same backend and precision; named as the others, the
        # faster-expected side first ("t2 vs t1": how much faster 2 threads are)
        for cell, one in cells.items():
            if cell.threads != 1:
                continue
            wider = [
                c
                for c in cells
                if (c.backend, c.precision) == (cell.backend, cell.precision) and c.threads > 1
            ]
            for other in wider:
                ratios.append(
                    _speedup(
                        "thread_speedup",
                        model,
                        f"{cell.backend} {cell.precision} t{other.threads} vs t1",
                        one,
                        cells[other],
                    )
                )
        # int8 vs fp32 on onnxruntime, per thread count
        for cell, fp32 in cells.items():
            if cell.engine == "onnxruntime" and cell.precision == "fp32":
                int8 = Cell(cell.model, "onnxruntime", "int8", None, cell.threads)
                if int8 in cells:
                    ratios.append(
                        _speedup(
                            "int8_vs_fp32",
                            model,
                            f"onnxruntime int8 vs fp32 (t{cell.threads})",
                            fp32,
                            cells[int8],
                        )
                    )
    pipeline, http = _p50(results, "pipeline"), _p50(results, "http")
    for cell, over_http in http.items():
        if cell in pipeline:
            ratios.append(
                Ratio(
                    "http_overhead_ms",
                    cell.model,
                    cell.label,
                    round(over_http - pipeline[cell], 3),
                    over_http,
                    pipeline[cell],
                )
            )
    return ratios
