"""Engine-only figures for bench-goals: what the signed int8 weights buy, and what batching could buy
at best (per-image engine time at batch 1/2/4/8)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from statistics import median

from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.engines.registry import onnx_file
from service.imaging.decode import decode_image
from service.imaging.preprocess import preprocess
from service.manifest import Manifest
from service.settings import CPU_COUNT, ServerSettings
from service.timing import time_call
from service.turns import in_turns

MODEL = "mobilenet_v2"


def int8_weights(layout: ArtifactLayout, manifest: Manifest, image: bytes, rounds: int = 6) -> dict:
    """What the signed int8 weights buy: MobileNetV2 int8, 1 thread, engine alone, int8.onnx (u8 x u8
    kernels) against int8-signed.onnx (u8 x s8, VNNI), taking turns. Without VNNI only int8.onnx runs:
    there the u8 x s8 kernels can saturate, so the server never runs the signed file."""
    from service.engines.onnx import OnnxRuntimeRunner

    spec = manifest.get(MODEL)
    pixels = preprocess(decode_image(image, 10**8).pixels, spec.input).pixels
    vnni = has_vnni()
    paths = {"int8.onnx": layout.onnx(MODEL, "int8")}
    if vnni:
        paths["int8-signed.onnx"] = layout.onnx_signed_int8(MODEL)
    runners = {name: OnnxRuntimeRunner(path, spec.input, "int8", 1) for name, path in paths.items()}

    def block(runner: OnnxRuntimeRunner) -> list[float]:
        runner.run(pixels)  # the other file ran last: its caches, not this one's
        return [time_call(partial(runner.run, pixels)) for _ in range(40)]

    blocks = in_turns({name: partial(block, runner) for name, runner in runners.items()}, rounds)
    p50 = {name: round(median(t for run in runs for t in run), 3) for name, runs in blocks.items()}
    speedup = round(p50["int8.onnx"] / p50["int8-signed.onnx"], 2) if vnni else None
    return {"vnni": vnni, "p50_ms": p50, "signed_speedup": speedup}


def _per_image_ms(run_batch: Callable[[], object], batch: int) -> float:
    return time_call(run_batch) / batch


def batching_potential(layout: ArtifactLayout, rounds: int = 15) -> dict:
    """What micro-batching could buy at best: per-image engine time of MobileNetV2 int8 at batch
    1/2/4/8 (the built ONNX models have a symbolic batch dimension)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from service.engines.onnx import session_options  # here, like onnxruntime: the CLI imports this module

    # the file the server runs (int8-signed.onnx on a VNNI CPU); the batch dimension is symbolic
    path = onnx_file(layout, MODEL, "int8", ServerSettings().ort_int8_weights, has_vnni())
    serialized = onnx.load(path).SerializeToString()
    result: dict[str, dict[str, float]] = {}
    for threads in sorted({1, CPU_COUNT}):
        session = ort.InferenceSession(
            serialized, session_options(threads), providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        rng = np.random.default_rng(0)
        inputs = {b: rng.random((b, 224, 224, 3), dtype=np.float32) for b in (1, 2, 4, 8)}
        for _ in range(3):
            for x in inputs.values():
                session.run(None, {name: x})
        per_image = in_turns(
            {b: partial(_per_image_ms, partial(session.run, None, {name: x}), b) for b, x in inputs.items()},
            rounds,
        )
        result[f"threads={threads}"] = {f"batch={b}": round(median(v), 3) for b, v in per_image.items()}
    return {"file": path.name, "per_image_ms": result}
