from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from service.api.inference import finish_timing, infer, model_for, state_of
from service.api.params import engine_settings
from service.api.schemas import ClassifyResponse, ErrorResponse, Prediction, Timing
from service.settings import EngineSettings
from service.tasks.classification import top_k

router = APIRouter(tags=["inference"])

IMAGE_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
            },
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
        "required": True,
    }
}
ERRORS = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "API key missing or wrong (only when MVA_API_KEY is set)",
        404: "unknown model",
        413: "upload or pixel count above the limit",
        415: "not an image",
        422: "invalid parameter, corrupt image or missing field",
        503: "overloaded or not ready (Retry-After)",
    }.items()
}


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=ERRORS,
    openapi_extra=IMAGE_BODY,
    summary="Classify an image with MobileNetV2 (ImageNet)",
    description=(
        "Send the image as multipart field `image` or as the raw body with an image content type, e.g. "
        "`curl -F image=@cat.jpg 'localhost:8000/classify?top_k=3'`. Preprocessing: central 87.5% crop, "
        "bilinear resize to 224x224, (pixel - 128) / 128."
    ),
)
async def classify(
    request: Request,
    response: Response,
    settings: Annotated[EngineSettings, Depends(engine_settings)],
    top_k_: Annotated[int, Query(alias="top_k", ge=1, le=1000, description="how many labels")] = 5,
    model: Annotated[str, Query(description="classification model name from the manifest")] = "mobilenet_v2",
) -> ClassifyResponse:
    state = state_of(request)
    spec = model_for(state, model, "classification")
    labels = state.labels_for(spec)
    done = await infer(request, spec, settings, lambda out: top_k(out.outputs[0], labels, top_k_))
    timing = finish_timing(request, response, done.timer)
    return ClassifyResponse(
        model=spec.name,
        settings=done.settings,
        image=done.image,
        predictions=[Prediction(class_id=p.class_id, label=p.label, score=p.score) for p in done.result],
        batch_size=done.batch_size,
        timing=Timing(**timing),
    )
