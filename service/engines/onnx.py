"""onnxruntime engine. intra-op threads as asked, inter-op 1, all graph optimizations. SIMD cannot be
switched off here: MLAS picks its AVX2 / AVX-512 kernels at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.engines.base import EffectiveSettings, Runner, engine_version
from service.imaging.tensor import to_float
from service.manifest import InputSpec, Precision

SPINNING = "session.intra_op.allow_spinning"


def session_options(threads: int, spinning: bool = False) -> ort.SessionOptions:
    """The options of every onnxruntime session the service and its bench build."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Our pool already keeps inference threads <= cores; spinning workers would only burn the
    # core that the next request's decode needs (off by default; MVA_ORT_SPINNING to measure).
    options.add_session_config_entry(SPINNING, "1" if spinning else "0")
    return options


class OnnxRuntimeRunner(Runner):
    def __init__(
        self, path: Path, spec: InputSpec, precision: Precision, threads: int, spinning: bool = False
    ) -> None:
        options = session_options(threads, spinning)
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._spec = spec
        self.settings = EffectiveSettings(
            engine="onnxruntime",
            engine_version=engine_version("onnxruntime"),
            precision=precision,
            simd=True,
            threads=threads,
            kernels="mlas",
            artifact=f"{path.parent.name}/{path.name}",
        )

    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: to_float(pixels, self._spec)})
