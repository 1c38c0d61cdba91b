"""What the CPU offers for SIMD, read from /proc/cpuinfo (Linux)."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

_FLAGS = {
    "sse4_2": "SSE4.2",
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_int8": "AMX-INT8",
    "asimd": "NEON",
}


@cache
def cpu_info() -> dict[str, object]:
    model, flags = platform.processor() or platform.machine(), set[str]()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    return {
        "model": model,
        "machine": platform.machine(),
        "simd": {label: flag in flags for flag, label in _FLAGS.items()},
    }


def has_vnni() -> bool:
    """x86 VNNI (AVX-512 VNNI or AVX-VNNI): 8-bit dot products into 32-bit sums, which onnxruntime's
    u8 x s8 kernels use; without it those kernels go through 16-bit sums that can saturate."""
    simd = cpu_info()["simd"]
    assert isinstance(simd, dict)
    return bool(simd["AVX-512 VNNI"] or simd["AVX-VNNI"])
