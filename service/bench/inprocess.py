"""In-process timing: the engine alone (runner.run on ready model pixels), and the whole pipeline the
server runs per request (decode, preprocess, inference, task postprocessing) without HTTP."""

from __future__ import annotations

from collections.abc import Callable

from service.artifacts import ArtifactLayout
from service.bench.matrix import Cell
from service.engines.base import Runner
from service.engines.registry import RunnerRegistry, resolve
from service.imaging.decode import decode_image
from service.imaging.preprocess import min_source_size, preprocess
from service.manifest import Manifest, ModelSpec
from service.memory import keep_freed_memory
from service.pipeline import PipelineOutput, run_pipeline
from service.settings import ServerSettings
from service.tasks.classification import Labels, top_k
from service.tasks.detection import detect
from service.timing import StageTimer


def default_cell(manifest: Manifest, model: str) -> Cell:
    """What a request for `model` without parameters runs (ServerSettings defaults)."""
    defaults = ServerSettings().default_engine_settings()
    spec = manifest.get(model)
    return Cell(
        model, defaults.engine, defaults.precision or spec.precisions[0], defaults.kernels, defaults.threads
    )


class InProcess:
    """Builds each cell's runner once (a cache of one: cells run one after another)."""

    def __init__(self, layout: ArtifactLayout, manifest: Manifest) -> None:
        keep_freed_memory()  # as the server does, so both sides allocate alike
        self._manifest = manifest
        self._layout = layout
        # built as the server builds them (MVA_ORT_INT8_WEIGHTS, MVA_ORT_SPINNING, MVA_INFERENCE_CORES):
        # spinning is in no answer's settings, so run.py's same_settings cannot catch a difference
        settings = ServerSettings()
        self._registry = RunnerRegistry.for_server(layout, settings, 1)
        self._max_pixels = settings.max_pixels
        self._labels: dict[str, Labels] = {}

    def runner(self, cell: Cell) -> Runner:
        spec = self._manifest.get(cell.model)
        return self._registry.get(spec, resolve(spec, cell.settings()))

    def engine_call(self, cell: Cell, image: bytes) -> Callable[[], object]:
        spec = self._manifest.get(cell.model)
        runner = self.runner(cell)
        decoded = decode_image(image, self._max_pixels, lambda w, h: min_source_size(spec.input, w, h))
        pixels = preprocess(decoded.pixels, spec.input).pixels
        return lambda: runner.run(pixels)

    def pipeline(self, cell: Cell) -> Callable[[bytes], object]:
        """What a request runs for this cell, minus HTTP: bytes -> the task's result."""
        spec = self._manifest.get(cell.model)
        runner = self.runner(cell)
        postprocess = self._postprocess(spec)

        def run(data: bytes) -> object:
            return postprocess(run_pipeline(data, spec.input, runner, self._max_pixels, StageTimer()))

        return run

    def pipeline_call(self, cell: Cell, image: bytes) -> Callable[[], object]:
        run = self.pipeline(cell)
        return lambda: run(image)

    def _postprocess(self, spec: ModelSpec) -> Callable[[PipelineOutput], object]:
        if spec.task == "classification":
            assert spec.labels is not None
            labels = self._labels.setdefault(
                spec.name, Labels.load(self._layout.labels(spec.name), spec.labels.background_index)
            )
            return lambda out: top_k(out.outputs[0], labels, 5)
        return lambda out: detect(
            out.outputs, spec, out.model_pixels.letterbox, (out.decoded.width, out.decoded.height)
        )
