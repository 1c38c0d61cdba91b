"""The data path both tasks share: bytes -> decoded image -> model pixels -> engine -> model output.
Runs in an inference worker thread, never on the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

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
    data: bytes | memoryview, spec: InputSpec, max_pixels: int, timer: StageTimer, full_size: bool = False
) -> tuple[DecodedImage, ModelPixels]:
    """bytes -> decoded image -> model pixels. JPEGs are decoded at the smallest DCT scale the model
    input allows, unless `full_size` (the picture itself is wanted back, e.g. annotated)."""
    min_size = None if full_size else partial(min_source_size, spec)
    with timer.stage("decode"):
        decoded = decode_image(data, max_pixels, min_size=min_size)
    with timer.stage("preprocess"):
        model_pixels = preprocess(decoded.pixels, spec, decoded.coverage)
    return decoded, model_pixels


def run_pipeline(
    data: bytes | memoryview,
    spec: InputSpec,
    runner: Runner,
    max_pixels: int,
    timer: StageTimer,
    full_size: bool = False,
) -> PipelineOutput:
    decoded, model_pixels = prepare(data, spec, max_pixels, timer, full_size)
    with timer.stage("inference"):
        outputs = runner.run(model_pixels.pixels)
    return PipelineOutput(decoded, model_pixels, outputs)
