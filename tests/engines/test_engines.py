"""Every engine / precision / SIMD setting classifies the known images right, agrees with LiteRT on the
original tflite, and really runs what its settings say."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.engines.int8_file import Int8Weights, signed_int8_unverified
from service.engines.litert import LiteRTRunner
from service.engines.onnx import OnnxRuntimeRunner
from service.engines.registry import RunnerRegistry, resolve
from service.manifest import Manifest
from service.settings import CPU_COUNT, EngineSettings
from tests.engines.inputs import pixels_of

KNOWN = {"grace_hopper.bmp": "military uniform", "cat.bmp": "Egyptian cat", "bird.bmp": "chickadee"}

SETTINGS = {
    "onnxruntime-int8": EngineSettings(engine="onnxruntime", precision="int8"),
    "onnxruntime-fp32": EngineSettings(engine="onnxruntime", precision="fp32"),
    "litert-xnnpack": EngineSettings(engine="litert", kernels="xnnpack"),
    "litert-builtin": EngineSettings(engine="litert", kernels="builtin"),
    "litert-reference": EngineSettings(engine="litert", simd=False),
}


@pytest.fixture(scope="module")
def labels(layout: ArtifactLayout) -> list[str]:
    return layout.labels("mobilenet_v2").read_text().splitlines()


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("image", sorted(KNOWN))
def test_known_label_and_same_top1_as_litert(
    name: str, image: str, manifest: Manifest, registry: RunnerRegistry, images: Path, labels: list[str]
) -> None:
    spec = manifest.get("mobilenet_v2")
    pixels = pixels_of(manifest, images / image)
    scores = registry.get(spec, resolve(spec, SETTINGS[name])).run(pixels)[0].reshape(-1)
    reference = registry.get(spec, resolve(spec, EngineSettings(engine="litert"))).run(pixels)[0].reshape(-1)
    assert labels[int(np.argmax(scores))] == KNOWN[image]
    assert int(np.argmax(scores)) == int(np.argmax(reference))


def auto_int8_file(layout: ArtifactLayout) -> str:
    """What MVA_ORT_INT8_WEIGHTS=auto runs here: signed weights where onnxruntime's VNNI kernels run them
    exactly and the build verified that (test_int8_file.py decides both kinds of CPU)."""
    verified = signed_int8_unverified(layout, "mobilenet_v2") is None
    return "int8-signed.onnx" if has_vnni() and verified else "int8.onnx"


def test_settings_report_what_ran(
    layout: ArtifactLayout, manifest: Manifest, registry: RunnerRegistry
) -> None:
    spec = manifest.get("mobilenet_v2")
    ran = {name: registry.get(spec, resolve(spec, s)).settings for name, s in SETTINGS.items()}
    assert ran["onnxruntime-fp32"].artifact == "mobilenet_v2/fp32.onnx"
    assert ran["onnxruntime-int8"].artifact == f"mobilenet_v2/{auto_int8_file(layout)}"
    assert ran["litert-reference"].kernels == "reference" and ran["litert-reference"].simd is False
    assert ran["litert-xnnpack"].artifact == "mobilenet_v2/source.tflite"


def test_precision_is_observable_in_the_scores(
    manifest: Manifest, registry: RunnerRegistry, images: Path
) -> None:
    """The int8 model's softmax is quantized to steps of 1/256; the fp32 model's is not."""
    spec = manifest.get("mobilenet_v2")
    pixels = pixels_of(manifest, images / "cat.bmp")
    int8 = registry.get(spec, resolve(spec, SETTINGS["onnxruntime-int8"])).run(pixels)[0]
    fp32 = registry.get(spec, resolve(spec, SETTINGS["onnxruntime-fp32"])).run(pixels)[0]
    assert np.allclose(int8 * 256, np.round(int8 * 256), atol=1e-4)
    assert not np.allclose(fp32 * 256, np.round(fp32 * 256), atol=1e-4)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [("signed", "int8-signed.onnx"), ("unsigned", "int8.onnx"), ("auto", None)],
)
def test_int8_weights_setting_picks_the_file(
    layout: ArtifactLayout, manifest: Manifest, weights: Int8Weights, expected: str | None
) -> None:
    spec = manifest.get("mobilenet_v2")
    registry = RunnerRegistry(layout, max_runners=2, pool_size=2, int8_weights=weights)
    ran = registry.get(spec, resolve(spec, SETTINGS["onnxruntime-int8"])).settings
    expected = expected or auto_int8_file(layout)
    assert ran.artifact == f"mobilenet_v2/{expected}"
    # fp32 and the other models have one file whatever the setting
    assert registry.get(spec, resolve(spec, SETTINGS["onnxruntime-fp32"])).settings.artifact.endswith(
        "fp32.onnx"
    )


@pytest.mark.skipif(not has_vnni(), reason="u8 x s8 kernels are exact only with VNNI")
def test_int8_signed_weights_give_the_same_bits(
    layout: ArtifactLayout, manifest: Manifest, images: Path
) -> None:
    """int8-signed.onnx runs other kernels (u8 x s8, VNNI) than int8.onnx (u8 x u8) on the same
    arithmetic: the outputs are identical on every test image, batched too."""
    spec = manifest.get("mobilenet_v2")
    runners = {
        path.name: OnnxRuntimeRunner(path, spec.input, "int8", threads=1)
        for path in (layout.onnx("mobilenet_v2", "int8"), layout.onnx_signed_int8("mobilenet_v2"))
    }
    batch = np.concatenate([pixels_of(manifest, p) for p in sorted(images.glob("*.jpg"))])
    assert len(batch) >= 3
    unsigned, signed = (runner.run(batch)[0] for runner in runners.values())
    assert np.array_equal(unsigned, signed)


def test_litert_kernels_are_observable(layout: ArtifactLayout, manifest: Manifest, images: Path) -> None:
    """XNNPACK replaces the graph with delegate nodes; builtin and reference kernels keep TFLite ops and
    round differently (the reference kernels are the plain scalar code)."""
    spec = manifest.get("mobilenet_v2")
    path = layout.tflite("mobilenet_v2")
    runners = {
        k: LiteRTRunner(path, spec.input, "int8", k, 1, 1) for k in ("xnnpack", "builtin", "reference")
    }
    assert "DELEGATE" in runners["xnnpack"].ops()
    assert "DELEGATE" not in runners["builtin"].ops() and "CONV_2D" in runners["builtin"].ops()
    pixels = pixels_of(manifest, images / "grace_hopper.bmp")
    builtin, reference = (runners[k].run(pixels)[0] for k in ("builtin", "reference"))
    assert not np.array_equal(builtin, reference)


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(CPU_COUNT < 2, reason="needs 2 cores to give a session 2 threads")
def test_onnxruntime_thread_count_is_real(layout: ArtifactLayout, manifest: Manifest) -> None:
    """An intra-op pool of n threads starts n - 1 worker threads besides the caller."""
    spec = manifest.get("mobilenet_v2")
    path = layout.onnx("mobilenet_v2", "int8")
    before = _os_threads()
    one = OnnxRuntimeRunner(path, spec.input, "int8", threads=1)
    after_one = _os_threads()
    two = OnnxRuntimeRunner(path, spec.input, "int8", threads=CPU_COUNT)
    after_two = _os_threads()
    assert after_one - before == 0
    assert after_two - after_one == CPU_COUNT - 1
    assert one.settings.threads == 1 and two.settings.threads == CPU_COUNT


def test_reference_kernels_report_one_thread(layout: ArtifactLayout, manifest: Manifest) -> None:
    spec = manifest.get("mobilenet_v2")
    runner = LiteRTRunner(layout.tflite("mobilenet_v2"), spec.input, "int8", "reference", CPU_COUNT, 1)
    assert runner.settings.threads == 1
