from __future__ import annotations

from pathlib import Path

from service.artifacts import ArtifactLayout
from service.modelbuild.build import build_all


def test_second_build_is_a_no_op(layout: ArtifactLayout, images: Path) -> None:
    onnx_path = layout.onnx("mobilenet_v2", "int8")
    before = onnx_path.stat().st_mtime_ns
    messages: list[str] = []
    build_all(layout, mirror=None, images=images, only=["mobilenet_v2"], log=messages.append)
    assert messages == ["mobilenet_v2: up to date"]
    assert onnx_path.stat().st_mtime_ns == before
