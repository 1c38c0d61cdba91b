"""preset=auto: measure the candidate engine / precision / threads settings of a model on this host
and pick the fastest (lowest median latency), as TF.js picks its best backend. Candidates are every
SIMD setting (the scalar reference kernels never win); rounds interleave the candidates so that a
burst of load elsewhere hits them all alike. A candidate this host cannot build or run (a file the
models folder lacks, an engine that refuses it) is skipped, with why, rather than failing them all."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from statistics import median
from typing import Any

import numpy as np

from service.artifacts import ArtifactLayout
from service.engines.base import Runner
from service.engines.int8_file import Int8Weights
from service.engines.registry import RunnerRegistry, resolve
from service.errors import NotReady, client_detail
from service.manifest import ModelSpec
from service.settings import CPU_COUNT, EngineSettings
from service.timing import time_call
from service.turns import in_turns

log = logging.getLogger("mobile_vision_api")

ROUNDS, WARMUP = 30, 3
# more threads must win by this much: their cores could serve another request instead, and on a busy
# host a small lead of the wider setting is noise more often than not
WIDER_MARGIN = 1.10


@dataclass(frozen=True)
class Measurement:
    settings: EngineSettings
    p50_ms: float
    runs: int


@dataclass(frozen=True)
class Skipped:
    """A candidate that could not be built or run here; `why` is for clients (/v1/models): the
    service's own message, else the exception's kind (its text, which can name server paths, is logged)."""

    settings: EngineSettings
    why: str


@dataclass(frozen=True)
class AutoChoice:
    model: str
    choice: EngineSettings
    measurements: list[Measurement]
    measured_at: str
    took_ms: float
    # the server's onnxruntime options the candidates ran with (MVA_ORT_INT8_WEIGHTS, MVA_ORT_SPINNING):
    # those its requests run with
    measured_with: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "choice": self.choice.model_dump(),
            "measured_with": self.measured_with,
            "criterion": f"lowest median latency of the engine alone, 1 request at a time; more threads "
            f"only when {WIDER_MARGIN:.2f}x faster than the best 1-thread setting",
            "measurements": [
                {**m.settings.model_dump(), "p50_ms": m.p50_ms, "runs": m.runs}
                for m in sorted(self.measurements, key=lambda m: m.p50_ms)
            ],
            "skipped": [{**s.settings.model_dump(), "why": s.why} for s in self.skipped],
            "measured_at": self.measured_at,
            "took_ms": self.took_ms,
        }

    @classmethod
    def from_dict(cls, model: str, report: dict[str, Any]) -> AutoChoice:
        """The choice `as_dict` reported (another worker process's, service/shared_auto.py)."""

        def settings_of(entry: dict[str, Any]) -> EngineSettings:
            return EngineSettings.model_validate({k: entry[k] for k in EngineSettings.model_fields})

        return cls(
            model=model,
            choice=EngineSettings.model_validate(report["choice"]),
            measurements=[
                Measurement(settings_of(m), m["p50_ms"], m["runs"]) for m in report["measurements"]
            ],
            measured_at=report["measured_at"],
            took_ms=report["took_ms"],
            measured_with=report["measured_with"],
            skipped=[Skipped(settings_of(s), s["why"]) for s in report["skipped"]],
        )


def candidates(spec: ModelSpec, cores: int = CPU_COUNT) -> list[EngineSettings]:
    threads = sorted({1, min(cores, CPU_COUNT)})
    found = [
        EngineSettings(engine="onnxruntime", precision=p, threads=t) for p in spec.precisions for t in threads
    ]
    found += [
        EngineSettings(engine="litert", precision=spec.precisions[0], kernels=k, threads=t)
        for k in ("xnnpack", "builtin")
        for t in threads
    ]
    return [resolve(spec, s) for s in found]


def pick(measurements: list[Measurement]) -> Measurement:
    """The fastest; but the fastest 1-thread setting unless the fastest overall beats it by WIDER_MARGIN."""
    fastest = min(measurements, key=lambda m: m.p50_ms)
    single = [m for m in measurements if m.settings.threads == 1]
    if fastest.settings.threads > 1 and single:
        narrow = min(single, key=lambda m: m.p50_ms)
        if narrow.p50_ms <= fastest.p50_ms * WIDER_MARGIN:
            return narrow
    return fastest


def tune(
    spec: ModelSpec,
    layout: ArtifactLayout,
    cores: int = CPU_COUNT,
    rounds: int = ROUNDS,
    warmup: int = WARMUP,
    int8_weights: Int8Weights = "auto",
    ort_spinning: bool = False,
) -> AutoChoice:
    """Measures every candidate (`measure`) and picks by the rule. NotReady when no candidate runs here."""
    start = time.perf_counter()
    measurements, skipped = measure(
        spec, candidates(spec, cores), layout, cores, rounds, warmup, int8_weights, ort_spinning
    )
    best = pick(measurements)
    return AutoChoice(
        model=spec.name,
        choice=best.settings,
        measurements=measurements,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        took_ms=round((time.perf_counter() - start) * 1000.0, 1),
        measured_with={"ort_int8_weights": int8_weights, "ort_spinning": ort_spinning},
        skipped=skipped,
    )


def measure(
    spec: ModelSpec,
    settings: list[EngineSettings],
    layout: ArtifactLayout,
    cores: int = CPU_COUNT,
    rounds: int = ROUNDS,
    warmup: int = WARMUP,
    int8_weights: Int8Weights = "auto",
    ort_spinning: bool = False,
) -> tuple[list[Measurement], list[Skipped]]:
    """Builds each setting's runner in a registry of its own (the server's cache keeps its runners),
    times `rounds` interleaved runs after `warmup`, and closes them again. Each round starts with the
    next setting (service/turns.py): whichever always goes first measures slower."""
    registry = RunnerRegistry(
        layout, len(settings), cores, ort_spinning=ort_spinning, int8_weights=int8_weights
    )
    pixels = np.random.default_rng(0).integers(0, 256, (1, spec.input.height, spec.input.width, 3), np.uint8)
    try:
        runners, skipped = _warmed(spec, settings, registry, pixels, warmup)
        runs = {i: partial(time_call, partial(runner.run, pixels)) for i, (_, runner) in enumerate(runners)}
        samples = in_turns(runs, rounds)
    finally:
        # every runner built, those a failed warm-up left too
        for _, runner in registry.cached():
            runner.close()
    measurements = [
        Measurement(s, round(median(times), 3), len(times))
        for (s, _), times in zip(runners, samples.values(), strict=True)
    ]
    return measurements, skipped


def _warmed(
    spec: ModelSpec,
    settings: list[EngineSettings],
    registry: RunnerRegistry,
    pixels: np.ndarray,
    warmup: int,
) -> tuple[list[tuple[EngineSettings, Runner]], list[Skipped]]:
    """The candidates built and run `warmup` times, and those that failed to."""
    runners: list[tuple[EngineSettings, Runner]] = []
    skipped: list[Skipped] = []
    for candidate in settings:
        try:
            runner = registry.get(spec, candidate)
            for _ in range(warmup):
                runner.run(pixels)
        except Exception as exc:  # whatever the engine raises: this candidate is out, not the others
            why = client_detail(exc)
            log.warning("preset=auto for %s: skipped %s: %s", spec.name, candidate.model_dump(), exc)
            skipped.append(Skipped(candidate, why))
            continue
        runners.append((candidate, runner))
    if not runners:
        reasons = "; ".join(sorted({s.why for s in skipped}))
        raise NotReady(f"preset=auto: no candidate setting of {spec.name} runs here ({reasons})")
    return runners, skipped
