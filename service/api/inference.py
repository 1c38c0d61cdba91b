"""What /classify and /detect share: read the upload, resolve settings, run the pipeline and the
task's postprocessing in the inference pool, and report timing (body, Server-Timing, metrics;
service/api/request_timing.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel

from service.api.params import EngineQuery, resolve_settings
from service.api.request_timing import start_timer
from service.api.schemas import ImageInfo
from service.api.state import AppState
from service.api.upload import check_upload_headers, read_upload
from service.engines.base import EffectiveSettings, Runner
from service.errors import NotReady, UnknownModel
from service.imaging.decode import DecodedImage
from service.imaging.preprocess import ModelPixels
from service.inference import ClientLeft
from service.manifest import ModelSpec, Task
from service.pipeline import PipelineOutput, prepare, run_pipeline, whole_picture
from service.settings import EngineSettings
from service.timing import StageTimer

R = TypeVar("R")


@dataclass(frozen=True)
class InferenceResult(Generic[R]):
    result: R
    output: PipelineOutput
    settings: EffectiveSettings
    timer: StageTimer
    batch_size: int = 1

    @property
    def image(self) -> ImageInfo:
        decoded = self.output.decoded
        return ImageInfo(
            width=decoded.width,
            height=decoded.height,
            format=decoded.format,
            decoded_width=decoded.decoded_width,
            decoded_height=decoded.decoded_height,
        )


async def client_left(request: Request) -> None:
    """Returns once the client has disconnected. Only after the body was read: uvicorn then answers
    receive() with http.disconnect when the connection is lost (or once the response is sent)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def state_of(request: Request) -> AppState:
    return request.app.state.mva


def model_for(state: AppState, name: str, task: Task) -> ModelSpec:
    try:
        spec = state.manifest.get(name)
    except KeyError:
        spec = None
    if spec is None or spec.task != task:
        names = [m.alias or m.name for m in state.manifest.by_task(task)]
        raise UnknownModel(f"unknown {task} model {name!r}; known: {', '.join(names)}", field="model")
    return spec


async def infer(
    request: Request,
    spec: ModelSpec,
    query: EngineQuery,
    postprocess: Callable[[PipelineOutput], R],
    whole: bool = False,
) -> InferenceResult[R]:
    """`whole`: postprocess gets the picture at its own size too (PipelineOutput.whole), to draw on; the
    model runs on the same decode as without it."""
    state = state_of(request)
    if not state.ready:
        raise NotReady(f"not ready: {state.not_ready_reason}")
    timer = start_timer(request)
    # what the headers refuse, before preset=auto may measure the model for seconds on its first use
    upload_headers = check_upload_headers(request, state.settings.max_upload_bytes)
    settings = await resolve_settings(state, query, timer)
    resolved = state.resolve(spec, settings, precision_asked=query.precision is not None)
    # before the upload, not only after it: a full server answers at once, and never asks for (with
    # `Expect: 100-continue`) or reads a body it would refuse (service/api/unread_body.py closes)
    state.pool.refuse_when_full()
    with state.uploads.hold(), timer.stage("receive"):
        upload = await read_upload(
            request, state.settings.max_upload_bytes, state.upload_pace, upload_headers
        )

    def image_and_runner() -> tuple[bytes, Runner]:
        """The worker's first steps, batched or not: the image out of the upload, the runner."""
        with timer.stage("receive"):
            data = upload.image()
        with timer.stage("load"):
            return data, state.registry.get(spec, resolved)

    gone = partial(client_left, request)
    if (
        state.batcher is not None
        and resolved.engine == "onnxruntime"
        and state.batcher.gathers(resolved.threads)
    ):
        return await _infer_batched(state, spec, resolved, image_and_runner, postprocess, timer, whole, gone)

    def job() -> tuple[R, PipelineOutput, EffectiveSettings]:
        data, runner = image_and_runner()
        output = run_pipeline(data, spec.input, runner, state.settings.max_pixels, timer, whole)
        with timer.stage("postprocess"):
            result = postprocess(output)
        return result, output, runner.settings

    result, output, effective = await state.pool.run(job, resolved.threads, timer, gone)
    state.metrics.inferences.labels(spec.name, effective.engine).inc()
    return InferenceResult(result, output, effective, timer)


async def _infer_batched(
    state: AppState,
    spec: ModelSpec,
    resolved: EngineSettings,
    image_and_runner: Callable[[], tuple[bytes, Runner]],
    postprocess: Callable[[PipelineOutput], R],
    timer: StageTimer,
    whole: bool,
    gone: ClientLeft,
) -> InferenceResult[R]:
    """The same path in three hops: decode + preprocess on one core, the engine call in a micro-batch,
    postprocessing on one core. Admitted once for all three; a client that leaves while a hop waits ends
    the request (ClientClosedRequest), as on the unbatched path. So does its queue allowance: the waits
    before its engine call (decode, the batch) together, not each, are bounded by MVA_QUEUE_TIMEOUT_S, as
    the unbatched path's one wait is. Once the engine ran for it the request is no longer late to start:
    postprocessing waits for its core up to MVA_QUEUE_TIMEOUT_S of its own (a 503 there would throw the
    decode and the engine call away)."""

    def allowance() -> float:
        """What is left of the request's queue allowance (s) for the next hop before the engine call: what
        it has waited so far is its timer's `queue` (the hops count only waiting there). Nothing left:
        503 now, the hop never submitted."""
        left = state.pool.queue_timeout_s - timer.ms.get("queue", 0.0) / 1000
        if left <= 0:
            raise state.pool.too_late()
        return left

    def prepare_job() -> tuple[bytes, Runner, DecodedImage, ModelPixels]:
        data, runner = image_and_runner()
        return data, runner, *prepare(data, spec.input, state.settings.max_pixels, timer)

    assert state.batcher is not None
    async with state.pool.admit():
        data, runner, decoded, model_pixels = await state.pool.execute(
            prepare_job, 1, timer, gone, timeout_s=allowance()
        )
        pixels = model_pixels.pixels
        outputs, batch_size = await state.batcher.run(
            runner, resolved.threads, pixels, timer, gone, timeout_s=allowance()
        )

        def post_job() -> tuple[R, PipelineOutput]:
            picture = whole_picture(data, decoded, state.settings.max_pixels, timer) if whole else None
            output = PipelineOutput(decoded, model_pixels, outputs, picture)
            with timer.stage("postprocess"):
                return postprocess(output), output

        # a client gone while this waits for its core gets no answer: decoding, drawing and encoding it
        # is waste. A whole queue timeout, not what is left of the allowance (see the docstring)
        result, output = await state.pool.execute(post_job, 1, timer, gone)
    state.metrics.inferences.labels(spec.name, runner.settings.engine).inc()
    return InferenceResult(result, output, runner.settings, timer, batch_size)


def json_response(body: BaseModel, headers: dict[str, str]) -> Response:
    """The typed body serialized once, by pydantic-core. Returning a Response skips FastAPI's own
    response-model pass (validate again, jsonable_encoder, json.dumps); README, Levers tried."""
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)
