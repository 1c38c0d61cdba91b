"""The bench matrix's order of work, for real: one cell, the engine and pipeline modes."""

from __future__ import annotations

from pathlib import Path

from service.artifacts import ArtifactLayout
from service.bench.run import Bench, BenchConfig


def test_the_modes_take_turns_going_first(layout: ArtifactLayout, images: Path) -> None:
    """5 runs in 5 blocks of 1: the mode that goes first in a block measures slower (service/bench/
    turns.py), so the first place shifts each block instead of always being the engine's, and the
    HTTP - pipeline figures do not carry the order in them."""
    picture = images / "face.jpg"
    config = BenchConfig(
        models_dir=layout.root,
        models=["blazeface_short"],
        engines=["onnxruntime"],
        threads=[1],
        runs=5,
        warmup=0,
        images={"classification": picture, "detection": picture},
        modes=["engine", "pipeline"],
    )
    done: list[str] = []
    results = Bench(config).run(done.append)
    modes = [what.rsplit(" ", 1)[1] for what in done]
    assert modes == ["engine", "pipeline", "pipeline", "engine"] * 2 + ["engine", "pipeline"]
    assert [(r.mode, r.stats and r.stats.runs) for r in results] == [("engine", 5), ("pipeline", 5)]
