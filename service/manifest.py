"""The model manifest (`models/manifest.json`): what every model is, where it comes from and how
its tensors are read. One file, read by the server here and by the browser page as JSON."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Precision = Literal["int8", "fp32"]
Task = Literal["classification", "detection"]


class ManifestError(ValueError):
    """A manifest.json that is no manifest (not JSON, a key missing, a value of another type): one line
    naming the file and the first thing wrong (it was a JSONDecodeError, a KeyError or pydantic's
    report, pages long). A ValueError: the server's settings report it as MVA_MODELS_DIR's problem."""


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

    @model_validator(mode="before")
    @classmethod
    def _named(cls, raw: Any) -> Any:
        """Each model takes its name from its key; a `models` that is no object is left to the check."""
        models = raw.get("models") if isinstance(raw, dict) else None
        if not isinstance(models, dict):
            return raw
        named = {
            name: spec | {"name": name} if isinstance(spec, dict) else spec for name, spec in models.items()
        }
        return raw | {"models": named}

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at `path`; ManifestError when it is no manifest, OSError when it cannot be read."""
        return cls.parse(path.read_bytes(), path)

    @classmethod
    def parse(cls, text: bytes, path: Path) -> Manifest:
        """The manifest `text`, read from `path` (named in a ManifestError): for a caller that keeps the
        bytes it parsed, not a second read of a file that may have changed since."""
        try:
            return cls.model_validate(json.loads(text))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: not JSON ({exc})") from None
        except ValidationError as exc:
            first, more = exc.errors()[0], exc.error_count() - 1
            location = ".".join(map(str, first["loc"]))  # e.g. models.mobilenet_v2.task
            where = f"{location}: " if location else ""
            also = f" (and {more} more)" if more else ""
            raise ManifestError(f"{path}: {where}{first['msg']}{also}") from None

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
