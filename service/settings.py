"""Settings: how a model runs (EngineSettings, per request) and how the server runs (ServerSettings,
from MVA_* environment variables)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.manifest import Precision

Engine = Literal["onnxruntime", "litert"]
Kernels = Literal["xnnpack", "builtin", "reference"]
# auto: the fastest settings measured on this host, per model (service.autotune)
Preset = Literal["scalar", "simd", "simd-threads", "auto"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cpu_count() -> int:
    """Cores this process may use (respects taskset / cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


CPU_COUNT = cpu_count()

ONNXRUNTIME_NO_SIMD = (
    "onnxruntime cannot switch SIMD off: its MLAS kernels pick AVX2/AVX-512 at run time. "
    "Use engine=litert with simd=off for the scalar reference kernels (or preset=scalar)."
)


class SettingsConflict(ValueError):
    """Settings that do not go together; `field` names the one to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EngineSettings(BaseModel):
    """How one inference runs. `precision=None` means the model's own (first listed in the manifest);
    `kernels=None` means what `simd` implies (litert: xnnpack when on, reference when off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Engine = "onnxruntime"
    precision: Precision | None = None
    simd: bool = True
    threads: Annotated[int, Field(ge=1)] = 1
    kernels: Kernels | None = None

    @field_validator("threads")
    @classmethod
    def _threads_within_cores(cls, value: int) -> int:
        if value > CPU_COUNT:
            raise ValueError(f"threads must be between 1 and {CPU_COUNT} (the cores this process may use)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EngineSettings:
        if self.engine == "onnxruntime":
            if not self.simd:
                raise SettingsConflict("simd", ONNXRUNTIME_NO_SIMD)
            if self.kernels is not None:
                raise SettingsConflict("kernels", "kernels applies to engine=litert only")
        elif self.kernels in ("xnnpack", "builtin") and not self.simd:
            raise SettingsConflict(
                "kernels", f"kernels={self.kernels} uses SIMD; with simd=off the kernels are 'reference'"
            )
        elif self.kernels == "reference" and self.simd:
            raise SettingsConflict("simd", "kernels=reference are the scalar kernels: set simd=off")
        return self

    @classmethod
    def from_preset(cls, preset: Preset) -> dict[str, object]:
        """TF.js's wasm backend variants, on LiteRT (XNNPACK is what TF.js's wasm backend runs)."""
        return {
            "scalar": {"engine": "litert", "simd": False, "kernels": "reference", "threads": 1},
            "simd": {"engine": "litert", "simd": True, "kernels": "xnnpack", "threads": 1},
            "simd-threads": {"engine": "litert", "simd": True, "kernels": "xnnpack", "threads": CPU_COUNT},
        }[preset]

    def resolved_kernels(self) -> Kernels | None:
        if self.engine != "litert":
            return None
        return self.kernels or ("xnnpack" if self.simd else "reference")


class ServerSettings(BaseSettings):
    """Server configuration; every field is an environment variable MVA_<FIELD> (e.g. MVA_THREADS)."""

    model_config = SettingsConfigDict(env_prefix="MVA_", extra="ignore")

    models_dir: Path = PROJECT_ROOT / "models"
    # defaults for requests that do not say otherwise
    engine: Engine = "onnxruntime"
    precision: Precision | None = None
    simd: bool = True
    threads: int = 1
    kernels: Kernels | None = None
    # limits
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_pending: int = 32  # requests admitted (running + waiting for a core); more get 503
    queue_timeout_s: float = 5.0
    runner_cache_size: int = 8
    # onnxruntime intra-op workers spin-wait for work (only matters with threads > 1); see README Results
    ort_spinning: bool = False
    inference_cores: int = Field(default_factory=cpu_count)
    warm_models: list[str] = ["mobilenet_v2", "blazeface_short", "blazeface_full"]
    # preset=auto measures a model on first use; models listed here are measured at start-up instead
    auto_tune_models: list[str] = []
    replica: str = Field(default_factory=lambda: os.environ.get("HOSTNAME", "local"))
    static_dir: Path = PROJECT_ROOT / "web" / "dist"  # the browser page, built by `make web`
    # access: an API key for the inference and model routes (off when unset), CORS origins (none)
    api_key: SecretStr | None = None
    cors_origins: list[str] = []
    # after SIGTERM: report not-ready at once, keep serving this long (so a load balancer or
    # Kubernetes stops sending), then drain in-flight requests and exit
    shutdown_delay_s: float = 0.0

    def default_engine_settings(self) -> EngineSettings:
        return EngineSettings.model_validate(self.model_dump(include=set(EngineSettings.model_fields)))
