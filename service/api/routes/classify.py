from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from service.api.inference import infer, json_response, model_for, state_of
from service.api.openapi import SERVER_TIMING
from service.api.params import EngineQuery
from service.api.query import openapi_parameters, parse_query
from service.api.request_timing import finish_timing
from service.api.schemas import ClassifyResponse, ErrorResponse, Prediction, Timing
from service.tasks.classification import top_k

router = APIRouter(tags=["inference"])

IMAGE_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
            },
            # the raw body: any image type (the decoder goes by the bytes, not the type), or untyped
            **{
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in ("image/jpeg", "image/png", "image/*", "application/octet-stream")
            },
        },
        "required": True,
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "API key missing or wrong (only when MVA_API_KEY is set)",
        404: "unknown model",
        408: "the upload stalled, or came too slowly on average (the connection is closed)",
        413: "upload or pixel count above the limit",
        415: "not an image",
        422: "invalid parameter, corrupt image or missing field",
        503: "overloaded or not ready (Retry-After)",
    }.items()
}


class ClassifyQuery(EngineQuery):
    top_k: int = Field(5, ge=1, le=1000, description="how many labels")
    model: str = Field("mobilenet_v2", description="classification model name from the manifest")


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=ERRORS | {200: {"headers": SERVER_TIMING}},
    openapi_extra=IMAGE_BODY | {"parameters": openapi_parameters(ClassifyQuery)},
    summary="Classify an image with MobileNetV2 (ImageNet)",
    description=(
        "Send the image as multipart field `image` or as the raw body with an image content type, e.g. "
        "`curl -F image=@cat.jpg 'localhost:8000/classify?top_k=3'`. Preprocessing: central 87.5% crop, "
        "bilinear resize to 224x224 (OpenCV INTER_LINEAR), (pixel - 128) / 128."
    ),
)
async def classify(request: Request) -> Response:
    query = parse_query(ClassifyQuery, request)
    state = state_of(request)
    spec = model_for(state, query.model, "classification")
    count = query.top_k
    # the labels are looked up in the worker, after infer() has checked that the service is ready
    done = await infer(request, spec, query, lambda out: top_k(out.outputs[0], state.labels_for(spec), count))
    timing, headers = finish_timing(request, done.timer)
    body = ClassifyResponse(
        model=spec.name,
        settings=done.settings,
        image=done.image,
        predictions=[Prediction(class_id=p.class_id, label=p.label, score=p.score) for p in done.result],
        batch_size=done.batch_size,
        timing=Timing(**timing),
    )
    return json_response(body, headers)
