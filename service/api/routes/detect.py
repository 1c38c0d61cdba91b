from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from service.annotate import annotate
from service.api.inference import finish_timing, infer, model_for, state_of
from service.api.params import engine_settings
from service.api.routes.classify import ERRORS, IMAGE_BODY
from service.api.schemas import Box, DetectResponse, FaceOut, Point, Timing
from service.pipeline import PipelineOutput
from service.settings import EngineSettings
from service.tasks.detection import Face
from service.tasks.detection import detect as detect_faces

router = APIRouter(tags=["inference"])

_IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses=ERRORS | {200: {"content": {"image/png": {}, "image/jpeg": {}}}},
    openapi_extra=IMAGE_BODY,
    summary="Detect faces with BlazeFace",
    description=(
        "`curl -F image=@face.jpg 'localhost:8000/detect?model=full'`. The image is letterboxed to the model "
        "input, decoded with MediaPipe's SSD anchors and weighted NMS; boxes and keypoints are in "
        "original-image pixels. `annotate=true` (or `Accept: image/png` / `image/jpeg`) returns the picture "
        "with the faces drawn, and the JSON figures in headers."
    ),
)
async def detect(
    request: Request,
    response: Response,
    settings: Annotated[EngineSettings, Depends(engine_settings)],
    model: Annotated[
        str, Query(description="short (128x128, faces within ~2 m) or full (192x192)")
    ] = "short",
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0, description="default: the manifest's")] = None,
    iou_threshold: Annotated[float | None, Query(gt=0.0, le=1.0, description="weighted-NMS overlap")] = None,
    max_faces: Annotated[int | None, Query(ge=1, le=1000)] = None,
    annotate_: Annotated[
        bool, Query(alias="annotate", description="return the picture with faces drawn")
    ] = False,
    annotate_format: Annotated[Literal["png", "jpeg"], Query(alias="format")] = "png",
) -> DetectResponse | Response:
    state = state_of(request)
    spec = model_for(state, model, "detection")
    accept = request.headers.get("accept", "")
    image_type = next((t for t in _IMAGE_TYPES if t in accept), None)
    if annotate_ and image_type is None:
        image_type = f"image/{annotate_format}"

    def postprocess(out: PipelineOutput) -> tuple[list[Face], bytes | None]:
        size = (out.decoded.width, out.decoded.height)
        faces = detect_faces(
            out.outputs, spec, out.model_pixels.letterbox, size, min_score, iou_threshold, max_faces
        )
        if image_type is None:
            return faces, None
        return faces, annotate(out.decoded.image, faces, size, _IMAGE_TYPES[image_type])

    done = await infer(request, spec, settings, postprocess)
    faces, picture = done.result
    if picture is not None:
        annotated = Response(picture, media_type=image_type, headers={"X-Faces": str(len(faces))})
        finish_timing(request, annotated, done.timer)
        return annotated
    timing = finish_timing(request, response, done.timer)
    return DetectResponse(
        model=spec.name,
        settings=done.settings,
        image=done.image,
        faces=[
            FaceOut(
                score=f.score,
                box=Box(
                    x_min=f.x_min,
                    y_min=f.y_min,
                    x_max=f.x_max,
                    y_max=f.y_max,
                    width=f.x_max - f.x_min,
                    height=f.y_max - f.y_min,
                ),
                keypoints=[Point(name=k.name, x=k.x, y=k.y) for k in f.keypoints],
            )
            for f in faces
        ],
        batch_size=done.batch_size,
        timing=Timing(**timing),
    )
