from __future__ import annotations

import gzip
from pathlib import Path

from service.artifacts import ArtifactLayout, sha256_of
from service.modelbuild.build import build_all


def test_second_build_is_a_no_op(layout: ArtifactLayout, images: Path) -> None:
    onnx_path = layout.onnx("mobilenet_v2", "int8")
    before = onnx_path.stat().st_mtime_ns
    lock_before = layout.lock.stat().st_mtime_ns
    messages: list[str] = []
    build_all(layout, mirror=None, images=images, only=["mobilenet_v2"], log=messages.append)
    assert messages == ["mobilenet_v2: up to date"]
    assert onnx_path.stat().st_mtime_ns == before
    assert layout.lock.stat().st_mtime_ns == lock_before  # lock.json not rewritten either


def test_each_browser_model_file_has_a_gzip_copy_in_the_lock(layout: ArtifactLayout) -> None:
    lock = layout.read_lock()["models"]
    for model, precision in (("mobilenet_v2", "int8"), ("mobilenet_v2", "fp32"), ("blazeface_short", "fp32")):
        onnx_path = layout.onnx(model, precision)
        gz = onnx_path.with_name(onnx_path.name + ".gz")
        assert gzip.decompress(gz.read_bytes()) == onnx_path.read_bytes()
        assert gz.stat().st_size < 0.8 * onnx_path.stat().st_size
        assert lock[model]["files"][gz.name] == sha256_of(gz)
