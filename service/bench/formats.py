"""Decode + preprocess figures for bench-goals: the goal's 1080p JPEG as it is, and the same picture
re-encoded in each format the service reads, at 1080p and 720p, so the README can say what an upload's
format costs the server before inference starts (and what a client saves by sending a JPEG)."""

from __future__ import annotations

import io
import time
from dataclasses import asdict
from pathlib import Path
from statistics import median
from typing import Any

from PIL import Image

from service.bench.stats import Stats
from service.imaging.decode import decode_image
from service.imaging.preprocess import min_source_size, preprocess
from service.manifest import InputSpec
from service.settings import ServerSettings
from service.timing import time_call

# Pillow's encoders, at what a camera or a browser's canvas.toBlob would write
FORMATS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "PNG": {}, "WEBP": {"quality": 90}, "BMP": {}}
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}
MIN_RUNS = 5


def decode_preprocess(path: Path, spec: InputSpec, runs: int) -> dict[str, Any]:
    """The goal: decode + preprocess of one file, as the server does it (DCT scaling for a JPEG)."""
    data = path.read_bytes()
    max_pixels = ServerSettings().max_pixels

    def call() -> None:
        decoded = decode_image(data, max_pixels, lambda w, h: min_source_size(spec, w, h))
        preprocess(decoded.pixels, spec)

    for _ in range(5):
        call()
    stats = Stats.of([time_call(call) for _ in range(runs)])
    return {"image": path.name, "bytes": len(data), **asdict(stats)}


def decode_by_format(path: Path, spec: InputSpec, runs: int = 60, budget_s: float = 3.0) -> dict[str, Any]:
    """Each (size, format): bytes, and decode and preprocess p50 apart. At most `runs` runs or `budget_s`
    seconds each (a 1080p PNG takes tens of milliseconds), at least MIN_RUNS."""
    picture = Image.open(path).convert("RGB")
    rows = []
    for size_name, size in SIZES.items():
        resized = picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)
        for fmt, options in FORMATS.items():
            encoded = io.BytesIO()
            resized.save(encoded, format=fmt, **options)
            data = encoded.getvalue()
            figures = _stages(data, spec, runs, budget_s)
            rows.append({"size": size_name, "format": fmt, "bytes": len(data), **figures})
    return {"source": path.name, "rows": rows}


def _stages(data: bytes, spec: InputSpec, runs: int, budget_s: float) -> dict[str, Any]:
    max_pixels = ServerSettings().max_pixels
    decode_ms: list[float] = []
    preprocess_ms: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(runs + 1):  # the first one warms up
        t0 = time.perf_counter()
        decoded = decode_image(data, max_pixels, lambda w, h: min_source_size(spec, w, h))
        t1 = time.perf_counter()
        preprocess(decoded.pixels, spec)
        t2 = time.perf_counter()
        if i:
            decode_ms.append((t1 - t0) * 1000)
            preprocess_ms.append((t2 - t1) * 1000)
        if len(decode_ms) >= MIN_RUNS and t2 > deadline:
            break
    return {
        "runs": len(decode_ms),
        "decoded": f"{decoded.decoded_width}x{decoded.decoded_height}",
        "decode_p50_ms": round(median(decode_ms), 3),
        "preprocess_p50_ms": round(median(preprocess_ms), 3),
        "total_p50_ms": round(median(d + p for d, p in zip(decode_ms, preprocess_ms, strict=True)), 3),
    }
