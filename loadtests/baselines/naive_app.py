"""The tutorial service: `session.run` inside `async def` (it blocks the event loop), a full-size decode, no
limits. Run: `uvicorn loadtests.baselines.naive_app:app`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, UploadFile

from loadtests.baselines.mobilenet import NaiveClassifier

app = FastAPI(title="naive MobileNetV2")
model = NaiveClassifier()


@app.post("/classify")
async def classify(image: UploadFile, top_k: int = 5) -> dict[str, Any]:
    return {"predictions": model.predict_bytes(await image.read(), top_k)}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}
