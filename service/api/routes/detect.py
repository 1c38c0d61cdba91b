from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field

from service.annotate import annotate
from service.api.accept import preferred
from service.api.headers import list_header
from service.api.inference import infer, json_response, model_for, state_of
from service.api.openapi import SERVER_TIMING, X_FACES
from service.api.params import EngineQuery
from service.api.query import openapi_parameters, parse_query
from service.api.request_timing import finish_timing
from service.api.routes.classify import ERRORS, IMAGE_BODY
from service.api.schemas import Box, DetectResponse, FaceOut, Point, Timing
from service.pipeline import PipelineOutput
from service.tasks.detection import Face
from service.tasks.detection import detect as detect_faces

router = APIRouter(tags=["inference"])

_IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
_ANSWER_TYPES = ("application/json", *_IMAGE_TYPES)


class DetectQuery(EngineQuery):
    model: str = Field("short", description="short (128x128, faces within ~2 m) or full (192x192)")
    min_score: float | None = Field(None, ge=0.0, le=1.0, description="default: the manifest's")
    iou_threshold: float | None = Field(None, gt=0.0, le=1.0, description="weighted-NMS overlap")
    max_faces: int | None = Field(None, ge=1, le=1000)
    annotate: bool | None = Field(
        None, description="return the picture with faces drawn (default: when Accept prefers an image type)"
    )
    format: Literal["png", "jpeg"] | None = Field(
        None, description="of the annotated picture (default: the image type Accept names, else png)"
    )


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses=ERRORS
    | {200: {"content": {"image/png": {}, "image/jpeg": {}}, "headers": SERVER_TIMING | X_FACES}},
    openapi_extra=IMAGE_BODY | {"parameters": openapi_parameters(DetectQuery)},
    summary="Detect faces with BlazeFace",
    description=(
        "`curl -F image=@face.jpg 'localhost:8000/detect?model=full'`. The image is letterboxed to the model "
        "input, decoded with MediaPipe's SSD anchors and weighted NMS; boxes and keypoints are in "
        "original-image pixels. `annotate=true` (or `Accept: image/png` / `image/jpeg`) returns the picture "
        "with the faces drawn (those of the JSON answer), the face count in `X-Faces` and the timing in "
        "`Server-Timing`."
    ),
)
async def detect(request: Request) -> Response:
    query = parse_query(DetectQuery, request)
    state = state_of(request)
    spec = model_for(state, query.model, "detection")
    negotiated = preferred(list_header(request.headers, "accept") or "", _ANSWER_TYPES)
    image_type = negotiated if negotiated in _IMAGE_TYPES else None
    if query.annotate is False:  # the query before Accept, as for `format`
        image_type = None
    elif query.annotate or image_type is not None:  # a picture: `format` names its type when given
        image_type = f"image/{query.format}" if query.format else image_type or "image/png"

    def postprocess(out: PipelineOutput) -> tuple[list[Face], bytes | None]:
        size = (out.decoded.width, out.decoded.height)
        faces = detect_faces(
            out.outputs,
            spec,
            out.model_pixels.letterbox,
            size,
            query.min_score,
            query.iou_threshold,
            query.max_faces,
        )
        if image_type is None:
            return faces, None
        # the faces found on the model's decode, drawn on the whole picture (a second decode for a
        # JPEG decoded at a reduced DCT scale: paid by annotated answers only)
        assert out.whole is not None  # asked for below
        return faces, annotate(out.whole.pixels, faces, size, _IMAGE_TYPES[image_type])

    done = await infer(request, spec, query, postprocess, whole=image_type is not None)
    faces, picture = done.result
    timing, headers = finish_timing(request, done.timer)
    # Accept chose between JSON and a picture, or the picture's type: caches must key on it
    if query.annotate is None or (query.annotate and query.format is None):
        headers["Vary"] = "Accept"
    if picture is not None:
        return Response(picture, media_type=image_type, headers=headers | {"X-Faces": str(len(faces))})
    body = DetectResponse(
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
    return json_response(body, headers)
