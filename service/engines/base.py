"""The engine interface: a Runner takes uint8 model pixels and returns the model's outputs as float32
arrays in the tflite model's output order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cache
from importlib.metadata import version

import numpy as np
from pydantic import BaseModel, ConfigDict

from service.manifest import Precision
from service.settings import Engine

# the package each engine's module is installed from
_PACKAGES: dict[Engine, str] = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert"}


@cache
def engine_version(engine: Engine) -> str:
    """The version of `engine`'s package, read once per process and the one source of every answer that
    names it (/v1/models, each response's settings): importlib reads the metadata files on every call
    (~0.6 ms, on the event loop for /v1/models), and a package installed under a running server must not
    make two answers name two versions."""
    return version(_PACKAGES[engine])


class EffectiveSettings(BaseModel):
    """What actually ran: reported in every response."""

    model_config = ConfigDict(frozen=True)

    engine: Engine
    engine_version: str
    precision: Precision
    simd: bool
    threads: int
    kernels: str  # onnxruntime: "mlas"; litert: xnnpack | builtin | reference
    artifact: str  # file name of the model the engine loaded


class Runner(ABC):
    settings: EffectiveSettings

    @abstractmethod
    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        """Run one inference. Thread-safe."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources (threads, memory)."""
