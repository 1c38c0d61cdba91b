"""The benchmark matrix: which (model, engine, precision, kernels, threads) cells run, in which modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.manifest import Manifest, Precision
from service.settings import CPU_COUNT, Engine, EngineSettings, Kernels

Mode = Literal["engine", "pipeline", "http"]
MODES: tuple[Mode, ...] = ("engine", "pipeline", "http")
# "onnxruntime" or one of LiteRT's kernel sets: what the --engines option accepts
ENGINE_CHOICES = ("onnxruntime", "xnnpack", "builtin", "reference")
DEFAULT_MODELS = ("mobilenet_v2", "blazeface_short", "blazeface_full")


@dataclass(frozen=True)
class Cell:
    model: str
    engine: Engine
    precision: Precision
    kernels: Kernels | None  # litert only
    threads: int

    @property
    def backend(self) -> str:
        """What the chart and tables call the engine: onnxruntime, or litert-<kernels>."""
        return "onnxruntime" if self.engine == "onnxruntime" else f"litert-{self.kernels}"

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision} t{self.threads}"

    @property
    def simd(self) -> bool:
        return self.kernels != "reference"

    def settings(self) -> EngineSettings:
        return EngineSettings(
            engine=self.engine,
            precision=self.precision,
            simd=self.simd,
            threads=self.threads,
            kernels=self.kernels,
        )

    def query(self) -> dict[str, str]:
        """The same settings as /classify and /detect query parameters."""
        params = {"engine": self.engine, "precision": self.precision, "threads": str(self.threads)}
        if self.kernels is not None:
            params["kernels"] = self.kernels
            params["simd"] = "true" if self.simd else "false"
        return params


def build_matrix(
    manifest: Manifest,
    models: list[str],
    engines: list[str],
    threads: list[int],
) -> list[Cell]:
    """Every valid cell. LiteRT runs the original tflite, so only the model's native precision; the
    reference kernels are single-threaded, so they get one cell per model."""
    cells: list[Cell] = []
    for name in models:
        spec = manifest.get(name)
        for engine in engines:
            if engine == "onnxruntime":
                for precision in spec.precisions:
                    cells += [Cell(spec.name, "onnxruntime", precision, None, t) for t in threads]
            else:
                kernels: Kernels = engine  # type: ignore[assignment]
                cell_threads = [1] if kernels == "reference" else threads
                cells += [Cell(spec.name, "litert", spec.precisions[0], kernels, t) for t in cell_threads]
    return cells


def default_threads() -> list[int]:
    return sorted({1, CPU_COUNT})
