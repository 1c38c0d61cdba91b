"""Query parameters -> EngineSettings: server defaults, then the preset, then explicit parameters.

Each inference route reads its query string as one pydantic model (service/api/query.py): the engine
fields below plus its own. Resolving runs on the event loop: it is a few dict operations, and
preset=auto's first measurement goes to a thread, admitted by the inference pool as the request's
inference is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.api.state import AppState
from service.errors import InvalidSettings
from service.settings import Engine, EngineSettings, Kernels, Precision, Preset, SettingsConflict
from service.timing import StageTimer

_ENGINE_FIELDS = ("engine", "precision", "simd", "threads", "kernels")


class EngineQuery(BaseModel):
    # a parameter the route does not take is refused (422, service/api/query.py): `topk=3` was ignored
    # and answered with the default 5, the typo unnoticed
    model_config = ConfigDict(extra="forbid")

    engine: Engine | None = Field(None, description="onnxruntime or litert")
    precision: Precision | None = Field(None, description="int8 or fp32 (default: the model's own)")
    simd: bool | None = Field(None, description="on/off; off needs engine=litert (scalar kernels)")
    # ge=1 here, as top_k's bounds: 0 was `invalid_settings` while 1.5 was `invalid_parameter`; above the
    # cores stays `invalid_settings` (what this server has, not what any request may say)
    threads: int | None = Field(None, ge=1, description="intra-op threads, 1..cores")
    kernels: Kernels | None = Field(None, description="litert only: xnnpack, builtin or reference")
    preset: Preset | None = Field(
        None,
        description="scalar | simd | simd-threads: TF.js wasm backend variants on LiteRT; "
        "auto: the fastest settings measured on this host (see /v1/models)",
    )
    model: str


async def resolve_settings(state: AppState, query: EngineQuery, timer: StageTimer) -> EngineSettings:
    explicit = {name: getattr(query, name) for name in _ENGINE_FIELDS}
    if query.preset is None and all(v is None for v in explicit.values()):
        return state.default_settings  # the common case: nothing to validate again
    values: dict[str, object] = state.default_settings.model_dump()
    if query.preset == "auto":
        values.update(await _auto_settings(state, query.model, timer))
    elif query.preset is not None:
        values.update(EngineSettings.from_preset(query.preset, state.pool.cores))
    values.update({k: v for k, v in explicit.items() if v is not None})
    if values["engine"] == "onnxruntime" and query.engine is not None and query.kernels is None:
        values["kernels"] = None  # a preset's litert kernels do not carry over to onnxruntime
    if query.simd is False and query.kernels is None and values["engine"] == "litert":
        values["kernels"] = "reference"
    if query.simd is True and query.kernels is None and values["kernels"] == "reference":
        values["kernels"] = None  # simd=on over preset=scalar: the kernels simd=on implies, not a 422
    try:
        return EngineSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        field = cause.field if isinstance(cause, SettingsConflict) else ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if query.preset is not None and explicit.get(field) is None and field in values:
            # the request did not say it: "simd: onnxruntime cannot switch SIMD off" misled after
            # preset=scalar&engine=onnxruntime
            message += f" ({field}={_shown(values[field])} came from preset={query.preset})"
        raise InvalidSettings(f"{field}: {message}", field=field) from exc


def _shown(value: object) -> str:
    """A setting as a query spells it (simd: on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


async def _auto_settings(state: AppState, model: str, timer: StageTimer) -> dict[str, object]:
    """preset=auto's settings for the model this request names. An unknown model gets none here: the
    route reports it. The first use measures, off the loop; the time shows as `load`."""
    try:
        spec = state.manifest.get(model)
    except KeyError:
        return {}
    choice = state.auto.get(spec.name)
    if choice is None:
        # work done for this request (or waited for by it): admitted like its inference, so the
        # requests that wait for a measurement count against MVA_MAX_PENDING and the next is refused
        async with state.pool.admit():
            with timer.stage("load"):
                choice = await state.measured_auto_choice(spec)
    return choice.choice.model_dump()
