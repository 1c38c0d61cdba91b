"""Query parameters -> EngineSettings: server defaults, then the preset, then explicit parameters."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Query, Request
from pydantic import ValidationError

from service.errors import InvalidSettings
from service.settings import Engine, EngineSettings, Kernels, Precision, Preset, SettingsConflict


async def engine_settings(
    request: Request,
    engine: Annotated[Engine | None, Query(description="onnxruntime or litert")] = None,
    precision: Annotated[
        Precision | None, Query(description="int8 or fp32 (default: the model's own)")
    ] = None,
    simd: Annotated[
        bool | None, Query(description="on/off; off needs engine=litert (scalar kernels)")
    ] = None,
    threads: Annotated[int | None, Query(description="intra-op threads, 1..cores")] = None,
    kernels: Annotated[
        Kernels | None, Query(description="litert only: xnnpack, builtin or reference")
    ] = None,
    preset: Annotated[
        Preset | None,
        Query(
            description="scalar | simd | simd-threads: TF.js wasm backend variants on LiteRT; "
            "auto: the fastest settings measured on this host (see /v1/models)"
        ),
    ] = None,
) -> EngineSettings:
    # async on purpose: a plain `def` dependency costs a thread-pool hop per request (~0.35 ms here)
    state = request.app.state.mva
    explicit = {
        "engine": engine,
        "precision": precision,
        "simd": simd,
        "threads": threads,
        "kernels": kernels,
    }
    if preset is None and all(v is None for v in explicit.values()):
        return state.default_settings  # the common case: nothing to validate again
    values: dict[str, object] = state.default_settings.model_dump()
    if preset == "auto":
        values.update(await _auto_settings(request))
    elif preset is not None:
        values.update(EngineSettings.from_preset(preset))
    values.update({k: v for k, v in explicit.items() if v is not None})
    if values["engine"] == "onnxruntime" and engine is not None and kernels is None:
        values["kernels"] = None  # a preset's litert kernels do not carry over to onnxruntime
    if simd is False and kernels is None and values["engine"] == "litert":
        values["kernels"] = "reference"
    try:
        return EngineSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        field = cause.field if isinstance(cause, SettingsConflict) else ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise InvalidSettings(f"{field}: {message}", field=field) from exc


async def _auto_settings(request: Request) -> dict[str, object]:
    """preset=auto's settings for the model this request names (or its route's default model).
    An unknown model gets none here: the route reports it. The first use measures, off the loop."""
    state = request.app.state.mva
    name = request.query_params.get("model") or _route_default_model(request)
    try:
        spec = state.manifest.get(name)
    except KeyError:
        return {}
    choice = state.auto.get(spec.name) or await asyncio.to_thread(state.auto_choice, spec)
    return choice.choice.model_dump()


def _route_default_model(request: Request) -> str:
    route = request.scope.get("route")
    for param in getattr(getattr(route, "dependant", None), "query_params", []):
        if param.name == "model":
            return str(param.default)
    return ""
