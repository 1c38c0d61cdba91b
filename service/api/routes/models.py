from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from service.api.headers import list_header
from service.api.inference import state_of
from service.api.static import CACHE_CONTROL, matches
from service.cpu import cpu_info
from service.engines.base import engine_version
from service.engines.int8_file import UnreadableLock
from service.errors import NotReady
from service.settings import CPU_COUNT

router = APIRouter(tags=["models"])


@router.head("/v1/models", include_in_schema=False)
@router.get("/v1/models", summary="Models, engines, settings and the CPU's SIMD features")
async def list_models(request: Request) -> dict[str, Any]:
    state = state_of(request)
    # read on every request, unlike the manifest: `models build` may rewrite it while the server runs,
    # and runners built since read it too (which int8 file to load). An unreadable lock (cut short,
    # hand-edited) costs its figures only: the models still serve
    lock_file, lock_error = state.read_lock()
    lock = {} if lock_file is None else lock_file.get("models", {})
    # what int8_files says of it: that read, not a second one of the same file
    lock_read = UnreadableLock(lock_error) if lock_error is not None else lock_file
    models = []
    for spec in state.manifest.models.values():
        entry: dict[str, Any] = {
            "name": spec.name,
            "alias": spec.alias,
            "task": spec.task,
            "title": spec.title,
            "input": spec.input.model_dump(),
            "precisions": spec.precisions,
            "artifacts": None if lock_file is None else lock.get(spec.name, {}).get("files", {}),
        }
        if spec.labels is not None:
            try:
                entry["labels"] = len(state.labels_for(spec))
            except NotReady:  # models not built: the rest of this answer still says what is missing
                entry["labels"] = None
        models.append(entry)
    return {
        "models": models,
        "lock_error": lock_error,  # why each model's "artifacts" is null
        "engines": {
            "onnxruntime": {
                "version": engine_version("onnxruntime"),
                "precisions": ["int8", "fp32"],
                "simd": ["on"],
                "note": "MLAS selects AVX2/AVX-512 kernels at run time; SIMD cannot be switched off",
                # MVA_ORT_INT8_WEIGHTS, and per int8 model the file its runners load and why
                "int8_weights": state.settings.ort_int8_weights,
                "int8_files": {
                    spec.name: state.registry.int8_file(spec.name, lock_read).as_dict()
                    for spec in state.manifest.models.values()
                    if "int8" in spec.precisions
                },
            },
            "litert": {
                "version": engine_version("litert"),
                "precisions": "the original tflite's (int8 for mobilenet_v2, fp32 for BlazeFace)",
                "kernels": {"xnnpack": "simd on", "builtin": "simd on, no delegate", "reference": "simd off"},
            },
        },
        "settings": {
            "defaults": state.default_settings.model_dump(),
            "threads": {"min": 1, "max": state.pool.cores},
            "presets": ["scalar", "simd", "simd-threads", "auto"],
        },
        "cpu": cpu_info() | {"cores": CPU_COUNT},
        # the event loop this process serves on (uvloop by default; `serve --loop asyncio` to compare)
        "event_loop": _class_name(asyncio.get_running_loop()),
        "runners": [
            {"model": name, **runner.settings.model_dump()} for name, runner in state.registry.cached()
        ],
        # copies: inference threads add to both (warm-up, a first preset=auto request) while this runs on
        # the event loop; iterating the dict itself could meet "dictionary changed size" (a 500)
        "warmup_ms": dict(state.warmup_ms),
        # preset=auto: per model measured so far (by any worker process), the choice and the measurements;
        # read from the run folder on every request: another process may have measured since
        "auto": {name: choice.as_dict() for name, choice in state.auto_choices().items()},
    }


def _class_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


@router.head("/v1/manifest", include_in_schema=False)
@router.get(
    "/v1/manifest",
    summary="The model manifest, as the browser page reads it (ETag; If-None-Match -> 304)",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        304: {"description": "not modified"},
    },
)
async def manifest(request: Request) -> Response:
    # the file as read at start-up (AppState.manifest_json): the manifest this process runs with. The
    # page fetches it on every load: revalidated each time (no-cache, as its files), a 304 if unchanged
    state = state_of(request)
    headers = {"ETag": state.manifest_etag, "Cache-Control": CACHE_CONTROL}
    if matches(list_header(request.headers, "if-none-match"), state.manifest_etag):
        return Response(status_code=304, headers=headers)
    return Response(state.manifest_json, media_type="application/json", headers=headers)
