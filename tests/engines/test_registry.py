from __future__ import annotations

from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout
from service.engines.registry import RunnerRegistry, resolve
from service.errors import InvalidSettings, NotReady
from service.manifest import Manifest
from service.settings import EngineSettings
from tests.conftest import models_with_int8_signed


def test_resolve_fills_model_defaults(manifest: Manifest) -> None:
    mobilenet, face = manifest.get("mobilenet_v2"), manifest.get("short")
    assert resolve(mobilenet, EngineSettings()).precision == "int8"
    assert resolve(face, EngineSettings()).precision == "fp32"
    assert resolve(mobilenet, EngineSettings(engine="litert")).kernels == "xnnpack"
    assert resolve(mobilenet, EngineSettings(engine="litert", simd=False)).kernels == "reference"


@pytest.mark.parametrize(
    ("model", "settings", "says"),
    [
        # the tflite is int8: onnxruntime has the fp32 variant
        (
            "mobilenet_v2",
            EngineSettings(engine="litert", precision="fp32"),
            "engine=litert runs the original tflite of mobilenet_v2, which is int8; use engine=onnxruntime "
            "for precision=fp32",
        ),
        # BlazeFace ships float only, on either engine: litert's refusal sent users to onnxruntime,
        # which refused it too
        ("short", EngineSettings(precision="int8"), "blazeface_short has no int8 variant (available: fp32)"),
        (
            "short",
            EngineSettings(engine="litert", precision="int8"),
            "blazeface_short has no int8 variant (available: fp32)",
        ),
    ],
)
def test_resolve_rejects_missing_variants(
    manifest: Manifest, model: str, settings: EngineSettings, says: str
) -> None:
    with pytest.raises(InvalidSettings) as info:
        resolve(manifest.get(model), settings)
    assert info.value.field == "precision"
    assert str(info.value) == says


def test_the_reference_kernels_take_one_thread_whatever_was_asked(manifest: Manifest) -> None:
    """They are single-threaded: the request reserves one core and reports one thread."""
    asked = EngineSettings(engine="litert", simd=False, threads=2)
    assert resolve(manifest.get("mobilenet_v2"), asked).threads == 1
    assert resolve(manifest.get("mobilenet_v2"), EngineSettings(engine="litert", threads=2)).threads == 2


def test_runners_are_cached_and_bounded(layout: ArtifactLayout, manifest: Manifest) -> None:
    registry = RunnerRegistry(layout, max_runners=2, pool_size=2)
    spec = manifest.get("short")
    a = registry.get(spec, resolve(spec, EngineSettings()))
    assert registry.get(spec, resolve(spec, EngineSettings())) is a
    registry.get(spec, resolve(spec, EngineSettings(engine="litert")))
    registry.get(spec, resolve(spec, EngineSettings(engine="litert", kernels="builtin")))
    cached = [runner for _, runner in registry.cached()]
    assert len(cached) == 2 and a not in cached  # least recently used went first


def test_a_missing_model_file_is_named_without_server_paths(manifest: Manifest, tmp_path: Path) -> None:
    """The message reaches clients (503 not_ready): it names the file inside the models folder, not
    where that folder is on the server."""
    registry = RunnerRegistry(ArtifactLayout(tmp_path / "models"), max_runners=2, pool_size=2)
    spec = manifest.get("mobilenet_v2")
    with pytest.raises(NotReady) as info:
        registry.get(spec, resolve(spec, EngineSettings(precision="fp32")))
    assert "build/mobilenet_v2/fp32.onnx is missing" in info.value.message
    assert str(tmp_path) not in info.value.message


@pytest.mark.parametrize(("verified", "runs"), [(False, "int8.onnx"), (True, "int8-signed.onnx")])
def test_a_vnni_host_runs_int8_signed_only_once_the_build_verified_it(
    layout: ArtifactLayout, manifest: Manifest, tmp_path: Path, verified: bool, runs: str
) -> None:
    """The runner a request gets, on a CPU with VNNI (this one may have none: the registry is told),
    from a models folder whose lock says int8-signed.onnx was verified or skipped."""
    own = models_with_int8_signed(layout, tmp_path / "models", verified)
    registry = RunnerRegistry(own, max_runners=2, pool_size=2, int8_weights="auto", vnni=True)
    spec = manifest.get("mobilenet_v2")
    runner = registry.get(spec, resolve(spec, EngineSettings()))
    assert runner.settings.artifact == f"mobilenet_v2/{runs}"
    assert registry.int8_file("mobilenet_v2").path.name == runs
