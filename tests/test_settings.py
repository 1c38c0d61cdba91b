from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import CPU_COUNT, EngineSettings, ServerSettings


def test_presets_mirror_tfjs_wasm_backends() -> None:
    scalar = EngineSettings(**EngineSettings.from_preset("scalar"))
    simd = EngineSettings(**EngineSettings.from_preset("simd"))
    threads = EngineSettings(**EngineSettings.from_preset("simd-threads"))
    assert (scalar.engine, scalar.simd, scalar.resolved_kernels(), scalar.threads) == (
        "litert",
        False,
        "reference",
        1,
    )
    assert (simd.simd, simd.resolved_kernels(), simd.threads) == (True, "xnnpack", 1)
    assert threads.threads == CPU_COUNT


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"engine": "onnxruntime", "simd": False}, "simd"),
        ({"engine": "onnxruntime", "kernels": "builtin"}, "kernels"),
        ({"engine": "litert", "simd": False, "kernels": "xnnpack"}, "kernels"),
        ({"threads": 0}, "threads"),
        ({"threads": CPU_COUNT + 1}, "threads"),
    ],
)
def test_invalid_combinations(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        EngineSettings(**values)
    error = info.value.errors()[0]
    named = getattr(error.get("ctx", {}).get("error"), "field", None) or error["loc"][0]
    assert named == field


def test_server_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVA_ENGINE", "litert")
    monkeypatch.setenv("MVA_THREADS", "1")
    monkeypatch.setenv("MVA_MAX_UPLOAD_BYTES", "1234")
    settings = ServerSettings()
    assert settings.default_engine_settings().engine == "litert"
    assert settings.max_upload_bytes == 1234
