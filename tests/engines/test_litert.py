"""The LiteRT runner's interpreter pool."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from service.artifacts import ArtifactLayout
from service.engines.litert import LiteRTRunner
from service.manifest import Manifest
from tests.engines.inputs import pixels_of

MODEL = "blazeface_short"  # the smallest tflite


def test_a_failed_interpreter_build_does_not_shrink_the_pool(
    layout: ArtifactLayout, manifest: Manifest, images: Path, tmp_path: Path
) -> None:
    """The pool counted an interpreter before building it: one whose build failed (the model file
    replaced by a damaged one) stayed counted, so with the other one in use the next caller waited for
    an interpreter that never came back, for good, even once the file was whole again."""
    spec = manifest.get(MODEL)
    model = tmp_path / "source.tflite"
    shutil.copy(layout.tflite(MODEL), model)
    whole, damaged = tmp_path / "whole.tflite", tmp_path / "damaged.tflite"
    shutil.copy(model, whole)
    damaged.write_bytes(model.read_bytes()[:1000])
    runner = LiteRTRunner(model, spec.input, "fp32", "builtin", 1, pool_size=2)
    pixels = pixels_of(manifest, images / "face.jpg", MODEL)
    expected = runner.run(pixels)
    outputs: list[list[np.ndarray]] = []
    with runner.interpreter():  # the one built so far, in use
        # a new file under the name (as a deploy swaps it): the interpreter built keeps its own
        os.replace(damaged, model)
        with pytest.raises(ValueError, match="not a valid Flatbuffer"), runner.interpreter():
            pass
        os.replace(whole, model)
        second = threading.Thread(target=lambda: outputs.append(runner.run(pixels)), daemon=True)
        second.start()
        second.join(timeout=60)  # a guard against waiting for good, not a time limit on the run
        assert not second.is_alive(), "the second caller waits for an interpreter the pool never built"
    assert len(outputs) == 1
    assert all(np.array_equal(a, b) for a, b in zip(outputs[0], expected, strict=True))
