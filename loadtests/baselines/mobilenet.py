"""MobileNetV2 the way a tutorial writes it: decode the whole picture, crop, resize, normalize, run.
Shared by every baseline, and on purpose independent of `service` (none of its optimizations); it needs
only numpy, Pillow and onnxruntime, so it also runs in the BentoML and Ray Serve venvs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL_NAME = "mobilenet_v2"


class NaiveClassifier:
    def __init__(self, models: Path | None = None, precision: str = "int8") -> None:
        # the folder our service reads (loadtests/compare.py names it), else the project's
        models = models or Path(os.environ.get("BASELINE_MODELS_DIR") or MODELS)
        spec = json.loads((models / "manifest.json").read_text())["models"][MODEL_NAME]["input"]
        self.size = (spec["width"], spec["height"])
        self.mean, self.std, self.fraction = spec["mean"], spec["std"], spec["central_fraction"]
        self.labels = (models / "build" / MODEL_NAME / "labels.txt").read_text().splitlines()
        # onnxruntime's defaults, as in the tutorials: intra-op threads = all cores
        # the very file our service runs on this host (loadtests/compare.py names it), else int8.onnx
        filename = os.environ.get("BASELINE_ONNX_FILE", f"{precision}.onnx")
        self.session = ort.InferenceSession(str(models / "build" / MODEL_NAME / filename))
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, picture: Image.Image, top_k: int = 5) -> list[dict[str, Any]]:
        picture = picture.convert("RGB")
        width, height = picture.size
        crop_w, crop_h = width * self.fraction, height * self.fraction
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        picture = picture.crop((round(left), round(top), round(left + crop_w), round(top + crop_h)))
        picture = picture.resize(self.size, Image.Resampling.BILINEAR)
        tensor = ((np.asarray(picture, dtype=np.float32) - self.mean) / self.std)[np.newaxis]
        probabilities = self.session.run(None, {self.input_name: tensor})[0][0]
        best = np.argsort(probabilities)[::-1][:top_k]
        return [{"class_id": int(i), "label": self.labels[i], "score": float(probabilities[i])} for i in best]

    def predict_bytes(self, data: bytes, top_k: int = 5) -> list[dict[str, Any]]:
        return self.predict(Image.open(io.BytesIO(data)), top_k)
