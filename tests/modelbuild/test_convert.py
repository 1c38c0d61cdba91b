from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from service.artifacts import ArtifactLayout
from service.manifest import Manifest
from service.modelbuild.verify import VerificationError, sample_pixels, verify


def ops(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("model", ["mobilenet_v2", "blazeface_short", "blazeface_full"])
def test_every_model_takes_nhwc_float_with_a_symbolic_batch(
    layout: ArtifactLayout, manifest: Manifest, model: str
) -> None:
    spec = manifest.get(model)
    graph = onnx.load(str(layout.onnx(model, spec.precisions[0]))).graph
    (graph_input,) = graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims == ["batch", spec.input.height, spec.input.width, 3]  # symbolic batch: micro-batching
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_int8_keeps_qdq_with_integer_weights(layout: ArtifactLayout) -> None:
    path = layout.onnx("mobilenet_v2", "int8")
    counts = ops(path)
    assert counts["DequantizeLinear"] > 50 and counts["Conv"] == 53
    weights = [t for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.UINT8]
    assert sum(int(np.prod(t.dims)) for t in weights) > 3_000_000  # the 3.47 M parameters, as uint8


def test_fp32_has_no_quantization_left(layout: ArtifactLayout) -> None:
    counts = ops(layout.onnx("mobilenet_v2", "fp32"))
    assert counts["QuantizeLinear"] == counts["DequantizeLinear"] == 0
    assert counts["Conv"] == 53


def test_verification_catches_a_wrong_model(
    layout: ArtifactLayout, manifest: Manifest, images: Path, tmp_path: Path
) -> None:
    spec = manifest.get("blazeface_short")
    model = onnx.load(str(layout.onnx("blazeface_short", "fp32")))
    biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    biggest.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(biggest) * 1.5, biggest.name))
    broken = tmp_path / "fp32.onnx"
    onnx.save(model, str(broken))
    samples = sample_pixels(spec, images)
    assert verify(
        spec, layout.tflite("blazeface_short"), layout.onnx("blazeface_short", "fp32"), "fp32", samples
    )
    with pytest.raises(VerificationError, match="exceeds tolerance"):
        verify(spec, layout.tflite("blazeface_short"), broken, "fp32", samples)


def test_lock_records_checksums_and_verification(layout: ArtifactLayout, manifest: Manifest) -> None:
    lock = layout.read_lock()
    assert set(lock["models"]) == set(manifest.models)
    assert {"tflite2onnx", "onnxruntime", "ai-edge-litert"} <= set(lock["tools"])
    entry = lock["models"]["mobilenet_v2"]
    assert set(entry["files"]) == {"source.tflite", "labels.txt", "int8.onnx", "fp32.onnx"}
    assert entry["verification"]["int8"]["max_abs"] == 0.0
    assert "grace_hopper.bmp" in entry["verified_on"] or entry["verified_on"][0].startswith("noise")


def test_lock_records_that_batches_equal_single_images(layout: ArtifactLayout) -> None:
    for entry in layout.read_lock()["models"].values():
        for figures in entry["verification"].values():
            assert figures["batch_max_abs"] <= 1e-4
