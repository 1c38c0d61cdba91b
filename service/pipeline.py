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
    decoded: DecodedImage  # what the model ran on: a JPEG at its reduced DCT scale
    model_pixels: ModelPixels
    outputs: list[np.ndarray]
    whole: DecodedImage | None = None  # the picture at its own size, when asked for (to draw on)


def prepare(
    data: bytes | memoryview, spec: InputSpec, max_pixels: int, timer: StageTimer
) -> tuple[DecodedImage, ModelPixels]:
    """bytes -> decoded image -> model pixels. JPEGs are decoded at the smallest DCT scale the model
    input allows, whatever the request then does with the answer: the same upload gives the same faces."""
    with timer.stage("decode"):
        decoded = decode_image(data, max_pixels, min_size=partial(min_source_size, spec))
    with timer.stage("preprocess"):
        model_pixels = preprocess(decoded.pixels, spec, decoded.coverage)
    return decoded, model_pixels


def whole_picture(
    data: bytes | memoryview, decoded: DecodedImage, max_pixels: int, timer: StageTimer
) -> DecodedImage:
    """`decoded` at the picture's own size: itself when it was decoded whole, else a second decode, in
    the `decode` stage. Only requests that want the picture back (annotate) pay for it."""
    if decoded.scale == 1.0:
        return decoded
    with timer.stage("decode"):
        return decode_image(data, max_pixels)


def run_pipeline(
    data: bytes | memoryview,
    spec: InputSpec,
    runner: Runner,
    max_pixels: int,
    timer: StageTimer,
    whole: bool = False,
) -> PipelineOutput:
    """`whole`: the output carries the picture at its own size too (whole_picture)."""
    decoded, model_pixels = prepare(data, spec, max_pixels, timer)
    with timer.stage("inference"):
        outputs = runner.run(model_pixels.pixels)
    picture = whole_picture(data, decoded, max_pixels, timer) if whole else None
    return PipelineOutput(decoded, model_pixels, outputs, picture)
