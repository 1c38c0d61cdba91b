"""Latency percentiles and throughput of one cell's samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stats:
    runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rps: float  # sequential: 1 / mean latency

    @classmethod
    def of(cls, samples_ms: list[float]) -> Stats:
        if not samples_ms:
            raise ValueError("no samples")
        values = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        mean = float(values.mean())
        return cls(
            runs=len(values),
            p50_ms=round(float(p50), 3),
            p90_ms=round(float(p90), 3),
            p99_ms=round(float(p99), 3),
            mean_ms=round(mean, 3),
            throughput_rps=round(1000.0 / mean, 1),
        )
