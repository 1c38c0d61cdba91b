"""The data path both tasks share: bytes -> decoded image -> model pixels -> engine -> model output.
Runs in an inference worker thread, never on the event loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.engines.base import Runner
from service.imaging.decode import DecodedImage, decode_image
from service.imaging.preprocess import ModelPixels, min_source_size, preprocess
from service.manifest import InputSpec
from service.timing import StageTimer


@dataclass(frozen=True)
class PipelineOutput:
    decoded: DecodedImage
    model_pixels: ModelPixels
    outputs: list[np.ndarray]


def prepare(
    data: bytes | memoryview, spec: InputSpec, max_pixels: int, timer: StageTimer
) -> tuple[DecodedImage, ModelPixels]:
    """bytes -> decoded image -> model pixels."""
    with timer.stage("decode"):
        decoded = decode_image(data, max_pixels, min_size=lambda w, h: min_source_size(spec, w, h))
    with timer.stage("preprocess"):
        model_pixels = preprocess(decoded.pixels, spec)
    return decoded, model_pixels


def run_pipeline(
    data: bytes | memoryview, spec: InputSpec, runner: Runner, max_pixels: int, timer: StageTimer
) -> PipelineOutput:
    decoded, model_pixels = prepare(data, spec, max_pixels, timer)
    with timer.stage("inference"):
        outputs = runner.run(model_pixels.pixels)
    return PipelineOutput(decoded, model_pixels, outputs)
