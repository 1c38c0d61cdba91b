"""Runs the matrix: for each cell, every mode back to back (so the ratios between modes compare
figures taken seconds apart on a shared machine), warm-up first."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from service.artifacts import ArtifactLayout
from service.bench.http import HttpClient, local_server
from service.bench.inprocess import InProcess
from service.bench.matrix import MODES, Cell, Mode, build_matrix
from service.bench.stats import Stats
from service.engines.base import EffectiveSettings
from service.manifest import Manifest
from service.timing import time_call
from service.turns import rotated

# LiteRT's scalar reference kernels take ~130 ms per MobileNetV2 inference: fewer runs keep the
# matrix short, and their spread is small next to their size.
REFERENCE_RUNS_CAP = 10
REFERENCE_WARMUP_CAP = 1
BLOCKS = 5


@dataclass(frozen=True)
class BenchConfig:
    models_dir: Path
    models: list[str]
    engines: list[str]
    threads: list[int]
    runs: int
    warmup: int
    images: dict[str, Path]  # task ("classification" / "detection") -> image file
    modes: list[Mode] = field(default_factory=lambda: list(MODES))
    url: str | None = None  # an already running server; None starts one

    def runs_for(self, cell: Cell) -> tuple[int, int]:
        """(warm-up, timed runs) for a cell."""
        if cell.kernels == "reference":
            return min(self.warmup, REFERENCE_WARMUP_CAP), min(self.runs, REFERENCE_RUNS_CAP)
        return self.warmup, self.runs


@dataclass(frozen=True)
class Result:
    """One cell in one mode: its figures, or (stats None) the error that stopped it."""

    cell: Cell
    mode: Mode
    stats: Stats | None
    error: str | None = None

    def row(self) -> dict[str, object]:
        figures = asdict(self.stats) if self.stats is not None else dict.fromkeys(STATS_FIELDS)
        return {
            **asdict(self.cell),
            "backend": self.cell.backend,
            "simd": self.cell.simd,
            "mode": self.mode,
            **figures,
            "error": self.error,
        }


STATS_FIELDS = [f.name for f in fields(Stats)]


def one_line(exc: Exception) -> str:
    """What went wrong, for a table cell or a log line: the exception's name and message, one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class Bench:
    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.layout = ArtifactLayout(config.models_dir)
        self.manifest = Manifest.load(self.layout.manifest)
        self.cells = build_matrix(self.manifest, config.models, config.engines, config.threads)
        self._images = {task: path.read_bytes() for task, path in config.images.items()}

    def total_runs(self) -> int:
        return sum(sum(self.config.runs_for(c)) for c in self.cells) * len(self.config.modes)

    def run(self, advance: Callable[[str], None]) -> list[Result]:
        """Every cell in every mode; `advance(description)` is called after each run. A cell that fails
        in a mode (its engine raises, the server answers an error) is a Result with the error; the
        other modes and cells go on."""
        results: list[Result] = []
        inprocess = InProcess(self.layout, self.manifest)
        with self._http() as http:
            for cell in self.cells:
                results += self._cell(cell, inprocess, http, advance)
        return results

    def _cell(
        self, cell: Cell, inprocess: InProcess, http: HttpClient | None, advance: Callable[[str], None]
    ) -> list[Result]:
        task = self.manifest.get(cell.model).task
        image = self._images[task]
        calls: dict[Mode, Callable[[], object]] = {}
        failed: dict[Mode, str] = {}

        def attempt(mode: Mode, work: Callable[..., None], *args: object) -> None:
            try:
                work(mode, *args)
            except Exception as exc:  # any failure of this cell in this mode is its result
                failed[mode] = one_line(exc)
                calls.pop(mode, None)

        def prepare(mode: Mode) -> None:
            if mode == "engine":
                calls[mode] = inprocess.engine_call(cell, image)
            elif mode == "pipeline":
                calls[mode] = inprocess.pipeline_call(cell, image)
            else:
                assert http is not None
                call = http.call(cell, image, _content_type(self.config.images[task]))
                same_settings(cell, call(), inprocess.runner(cell).settings)
                calls[mode] = call

        for mode in self.config.modes:
            attempt(mode, prepare)
        warmup, runs = self.config.runs_for(cell)
        samples: dict[Mode, list[float]] = {mode: [] for mode in calls}

        def warm(mode: Mode, call: Callable[[], object]) -> None:
            for _ in range(warmup):
                call()
                advance(f"{cell.model} {cell.label} warm-up")

        def timed(mode: Mode, call: Callable[[], object], size: int) -> None:
            for _ in range(size):
                samples[mode].append(time_call(call))
                advance(f"{cell.model} {cell.label} {mode}")

        for mode, call in list(calls.items()):
            attempt(mode, warm, call)
        # the modes take turns in blocks, so a burst of load elsewhere hits them alike, the order shifting
        # each block (service/turns.py: whichever always goes first measures slower)
        blocks = min(BLOCKS, runs)
        for block in range(blocks):
            size = runs // blocks + (1 if block < runs % blocks else 0)
            for mode, call in rotated(list(calls.items()), block):
                attempt(mode, timed, call, size)
        return [
            Result(cell, mode, None, failed[mode])
            if mode in failed
            else Result(cell, mode, Stats.of(samples[mode]))
            for mode in self.config.modes
        ]

    @contextmanager
    def _http(self) -> Iterator[HttpClient | None]:
        if "http" not in self.config.modes:
            yield None
            return
        if self.config.url is not None:
            client = HttpClient(self.config.url, self.manifest)
            try:
                yield client
            finally:
                client.close()
            return
        with local_server(self.config.models_dir) as (url, _):
            client = HttpClient(url, self.manifest)
            try:
                yield client
            finally:
                client.close()


class SettingsDiffer(RuntimeError):
    pass


def same_settings(cell: Cell, answer: object, in_process: EffectiveSettings) -> None:
    """The server's answer ran what the bench process runs for `cell` (engine, its version, precision,
    SIMD, threads, kernels, model file): else HTTP - pipeline would compare two configurations (a
    server at --url with other settings, e.g. MVA_ORT_INT8_WEIGHTS, or another onnxruntime)."""
    assert isinstance(answer, bytes)
    served = json.loads(answer)["settings"]
    mine = in_process.model_dump()
    differ = {k: (served.get(k), v) for k, v in mine.items() if served.get(k) != v}
    if differ:
        what = ", ".join(f"{k}: server {s!r}, in-process {m!r}" for k, (s, m) in differ.items())
        raise SettingsDiffer(f"{cell.model} {cell.label}: the server runs other settings ({what})")


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
