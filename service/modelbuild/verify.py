"""Check each ONNX artifact against LiteRT running the original tflite, on real images through the
service's own preprocessing: max |difference| of the (dequantized) outputs within the manifest's
tolerance, and the same top-1 class for classifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.engines.litert import LiteRTRunner, input_shape_of
from service.engines.onnx import OnnxRuntimeRunner
from service.errors import ServiceError
from service.imaging.decode import decode_image
from service.imaging.preprocess import preprocess
from service.manifest import ModelSpec, Precision

IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png"}


class VerificationError(RuntimeError):
    pass


def sample_pixels(spec: ModelSpec, images: Path | None) -> list[tuple[str, np.ndarray]]:
    """Model pixels of every image in `images`; without a folder, three seeded noise images (stated
    as such in the lock file). A folder given but missing or without pictures is an error: noise
    in place of the pictures asked for would weaken the check unnoticed."""
    if images is not None:
        return [(p.name, _model_pixels(spec, p)) for p in _picture_files(images)]
    rng = np.random.default_rng(0)
    return [(name, rng.integers(0, 256, input_shape(spec), dtype=np.uint8)) for name in sample_names(None)]


def input_shape(spec: ModelSpec) -> tuple[int, ...]:
    """The input tensor the manifest says the model takes: one NHWC RGB image."""
    return (1, spec.input.height, spec.input.width, 3)


def check_input(spec: ModelSpec, tflite: Path) -> None:
    """The tflite takes the input its manifest entry describes. A source changed without its entry (a
    version bump to a model of another size) failed in LiteRT's set_tensor: a ValueError, a traceback."""
    takes = input_shape_of(tflite)
    if takes != input_shape(spec):
        raise VerificationError(
            f"{spec.name}: {spec.source.filename} takes input {'x'.join(map(str, takes))}, "
            f"the manifest says {'x'.join(map(str, input_shape(spec)))}"
        )


def sample_names(images: Path | None) -> list[str]:
    """The names of the samples `sample_pixels` gives (a lock entry's verified_on), without decoding
    a picture; the same errors for a folder that is missing or holds none."""
    if images is None:
        return [f"noise-{i}" for i in range(3)]
    return [p.name for p in _picture_files(images)]


def _picture_files(images: Path) -> list[Path]:
    if not images.is_dir():
        raise VerificationError(f"images folder {images} does not exist")
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VerificationError(f"images folder {images} holds no {', '.join(sorted(IMAGE_SUFFIXES))} file")
    return files


def _model_pixels(spec: ModelSpec, path: Path) -> np.ndarray:
    try:
        decoded = decode_image(path.read_bytes(), 10**9)
    except ServiceError as exc:
        raise VerificationError(f"{path}: {exc.message}") from exc
    return preprocess(decoded.pixels, spec.input).pixels


def verify(
    spec: ModelSpec,
    tflite: Path,
    onnx_path: Path,
    precision: Precision,
    samples: list[tuple[str, np.ndarray]],
    batched: bool = True,
) -> dict[str, object]:
    """`batched`: the file has a symbolic batch, and a batch must give what each image gives alone."""
    reference = LiteRTRunner(tflite, spec.input, spec.precisions[0], "xnnpack", 1, 1)
    candidate = OnnxRuntimeRunner(onnx_path, spec.input, precision, 1)
    tolerance = spec.tolerance(precision)
    diffs = []
    per_image = {}
    for name, pixels in samples:
        expected, actual = reference.run(pixels), candidate.run(pixels)
        diffs.append(_max_abs_diff(expected, actual))
        entry: dict[str, object] = {"max_abs": diffs[-1]}
        if spec.verify.top1_must_match:
            entry["top1"] = _check_top1(
                expected[0].reshape(-1), actual[0].reshape(-1), f"{onnx_path} on {name}"
            )
        per_image[name] = entry
    worst = float(np.max(diffs))  # NaN if any is: numpy's max keeps it
    if not worst <= tolerance:  # a NaN is never within tolerance
        raise VerificationError(
            f"{onnx_path}: max |ONNX - LiteRT| = {worst:.6g} exceeds tolerance {tolerance}"
        )
    figures: dict[str, object] = {"tolerance": tolerance, "max_abs": worst, "images": per_image}
    if batched:
        figures["batch_max_abs"] = _batch_check(candidate, samples)
    return figures


def _batch_check(runner: OnnxRuntimeRunner, samples: list[tuple[str, np.ndarray]]) -> float:
    """All samples in one call must give what each gives alone (the server's micro-batching relies on
    it): the max |difference| must stay below 1e-4."""
    stacked = runner.run(np.concatenate([pixels for _, pixels in samples]))
    worst = float(
        np.max(
            [
                _max_abs_diff([together[i : i + 1] for together in stacked], runner.run(pixels))
                for i, (_, pixels) in enumerate(samples)
            ]
        )
    )
    if not worst <= 1e-4:  # NaN included
        raise VerificationError(f"batched outputs differ from single-image outputs by {worst:.3g}")
    return worst


def _max_abs_diff(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """Over every output; NaN if any output holds a NaN (Python's max() would drop it)."""
    return float(np.max([np.max(np.abs(e - a)) for e, a in zip(expected, actual, strict=True)]))


def _check_top1(expected: np.ndarray, actual: np.ndarray, where: str) -> int:
    """Same top-1 where LiteRT is confident (>= 0.5); otherwise within LiteRT's top 5 (an ambiguous
    picture may swap near-equal classes between the int8 and float arithmetic)."""
    top_e, top_a = int(np.argmax(expected)), int(np.argmax(actual))
    if expected[top_e] >= 0.5 and top_a != top_e:
        raise VerificationError(f"{where}: top-1 {top_a} != LiteRT's {top_e} (score {expected[top_e]:.3f})")
    if top_a not in np.argsort(-expected)[:5]:
        raise VerificationError(f"{where}: top-1 {top_a} is not in LiteRT's top 5")
    return top_a
