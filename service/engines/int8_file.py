"""Which int8 ONNX file onnxruntime runs for a model: int8-signed.onnx (its u8 x s8 kernels, which use
VNNI) or int8.onnx (the tflite's uint8 weights), from MVA_ORT_INT8_WEIGHTS, the CPU, and what the
models build verified (lock.json). int8-signed.onnx gives int8.onnx's results only where the CPU has
VNNI, so the build verifies it only there: a models folder built on a host without VNNI and served on
one with it (an image built on one node, run on another) holds a file that was never compared with
LiteRT."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from service.artifacts import ArtifactLayout

# which int8 file onnxruntime runs: int8-signed.onnx (same results; VNNI kernels) or int8.onnx
Int8Weights = Literal["auto", "signed", "unsigned"]


def verified(figures: Mapping[str, Any] | None) -> bool:
    """One file's entry under a lock entry's "verification": compared with LiteRT (build_model records
    max_abs), not skipped."""
    return figures is not None and "max_abs" in figures


@dataclass(frozen=True)
class UnreadableLock:
    """lock.json as a caller found it when it could not read it: why (ArtifactLayout.unreadable_lock),
    so that it is not read a second time to learn the same."""

    why: str


def signed_int8_unverified(
    layout: ArtifactLayout, model: str, lock: Mapping[str, Any] | UnreadableLock | None = None
) -> str | None:
    """Why the build did not verify `model`'s int8-signed.onnx, or None when it did. `lock`: lock.json
    as the caller already read it (ArtifactLayout.read_lock) or failed to, else it is read here."""
    if isinstance(lock, UnreadableLock):
        return lock.why
    if lock is None:
        try:
            lock = layout.read_lock()
        except ValueError as exc:  # cut short or hand-edited: nothing it records can be trusted
            return layout.unreadable_lock(exc)
    entry = lock.get("models", {}).get(model)
    if entry is None:
        return f"{layout.lock.name} has no entry for {model}: the models are not built"
    figures = entry.get("verification", {}).get(layout.onnx_signed_int8(model).stem)
    if verified(figures):
        return None
    if figures is not None and "skipped" in figures:
        return f"the build skipped it: {figures['skipped']}"
    return "the build recorded no verification of it"


@dataclass(frozen=True)
class Int8File:
    path: Path
    why: str
    # this CPU would run int8-signed.onnx (auto, VNNI) but the build did not verify it: worth a warning
    held_back: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"file": self.path.name, "why": self.why}


def int8_file(
    layout: ArtifactLayout,
    model: str,
    weights: Int8Weights,
    vnni: bool,
    lock: Mapping[str, Any] | UnreadableLock | None = None,
) -> Int8File:
    """The int8 file onnxruntime runs for `model` on a CPU with (`vnni`) or without VNNI. `signed`
    runs int8-signed.onnx whatever the build verified: the server refuses to start with it unverified
    (ServerSettings). `lock`: as in `signed_int8_unverified`."""
    signed, unsigned = layout.onnx_signed_int8(model), layout.onnx(model, "int8")
    if weights != "auto":
        return Int8File(signed if weights == "signed" else unsigned, f"MVA_ORT_INT8_WEIGHTS={weights}")
    if not vnni:
        why = "this CPU has no VNNI: int8-signed.onnx gives int8.onnx's results only with it"
        return Int8File(unsigned, why)
    why_not = signed_int8_unverified(layout, model, lock)
    if why_not is not None:
        why = (
            f"this CPU has VNNI, but {model}/{signed.name} was not verified ({why_not}); "
            "`mobile-vision-api models build` on a host with VNNI verifies it"
        )
        return Int8File(unsigned, why, held_back=True)
    return Int8File(signed, "this CPU has VNNI and the models build verified int8-signed.onnx")
