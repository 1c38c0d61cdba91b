"""BentoML serving the same ONNX model, written as BentoML's docs show. It runs in its own venv
(`make baselines`): `bentoml serve loadtests.baselines.bentoml_service:MobileNetV2`."""

from __future__ import annotations

from typing import Any

import bentoml
from PIL.Image import Image

from loadtests.baselines.mobilenet import NaiveClassifier


# no access log: ours has none by default and compare runs the naive service at --log-level warning; a
# line per request is a cost of its own under load (README Results, "Levers tried")
@bentoml.service(workers=1, traffic={"timeout": 60}, logging={"access": {"enabled": False}})
class MobileNetV2:
    def __init__(self) -> None:
        self.model = NaiveClassifier()

    @bentoml.api(route="/classify")
    def classify(self, image: Image, top_k: int = 5) -> dict[str, Any]:
        return {"predictions": self.model.predict(image, top_k)}
