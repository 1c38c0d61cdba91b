"""Response shapes (OpenAPI documents them from here)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.engines.base import EffectiveSettings


class Timing(BaseModel):
    """Milliseconds per stage. receive: reading the upload; queue: waiting for a free core; load: building
    the runner (only on the first use of a model and settings); total: from the start of the request."""

    receive: float
    queue: float
    load: float
    decode: float
    preprocess: float
    inference: float
    postprocess: float
    total: float


class ImageInfo(BaseModel):
    width: int = Field(description="of the uploaded picture, after EXIF orientation")
    height: int
    format: str
    decoded_width: int = Field(description="size actually decoded (smaller for JPEGs decoded at DCT scale)")
    decoded_height: int


class Prediction(BaseModel):
    class_id: int = Field(description="index in the model output (0 is ImageNet's background)")
    label: str
    score: float


class ClassifyResponse(BaseModel):
    model: str
    settings: EffectiveSettings
    image: ImageInfo
    predictions: list[Prediction]
    batch_size: int = Field(default=1, description="images in the engine call (> 1 with micro-batching)")
    timing: Timing


class Point(BaseModel):
    name: str
    x: float
    y: float


class Box(BaseModel):
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    width: float
    height: float


class FaceOut(BaseModel):
    score: float
    box: Box = Field(description="in original-image pixels")
    keypoints: list[Point] = Field(description="right_eye, left_eye, nose_tip, mouth_center, ear tragions")


class DetectResponse(BaseModel):
    model: str
    settings: EffectiveSettings
    image: ImageInfo
    faces: list[FaceOut]
    batch_size: int = Field(default=1, description="images in the engine call (> 1 with micro-batching)")
    timing: Timing


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
