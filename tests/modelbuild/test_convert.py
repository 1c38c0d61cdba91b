from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.manifest import Manifest, Precision
from service.modelbuild.convert import use_canonical_order
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


@pytest.mark.parametrize("model", ["mobilenet_v2", "blazeface_short", "blazeface_full"])
def test_the_fp32_copy_for_webgl_is_the_same_graph_with_the_batch_fixed_at_1(
    layout: ArtifactLayout, manifest: Manifest, model: str
) -> None:
    spec = manifest.get(model)
    fixed = onnx.load(str(layout.onnx_fixed_batch(model, "fp32"))).graph
    symbolic = onnx.load(str(layout.onnx(model, "fp32"))).graph
    for value in (*fixed.input, *fixed.output):
        assert value.type.tensor_type.shape.dim[0].dim_value == 1
    assert [d.dim_value for d in fixed.input[0].type.tensor_type.shape.dim] == [
        1, spec.input.height, spec.input.width, 3
    ]  # fmt: skip
    kernels = {t.name: numpy_helper.to_array(t) for t in symbolic.initializer if len(t.dims) == 4}
    fixed_kernels = {t.name: numpy_helper.to_array(t) for t in fixed.initializer if t.name in kernels}
    assert fixed_kernels.keys() == kernels.keys()  # the same convolution weights
    assert all(np.array_equal(w, kernels[name]) for name, w in fixed_kernels.items())
    assert not layout.onnx_fixed_batch(model, "int8").exists()  # WebGL has no int8 kernels


def test_int8_keeps_qdq_with_integer_weights(layout: ArtifactLayout) -> None:
    path = layout.onnx("mobilenet_v2", "int8")
    counts = ops(path)
    assert counts["DequantizeLinear"] > 50 and counts["Conv"] == 53
    weights = [t for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.UINT8]
    assert sum(int(np.prod(t.dims)) for t in weights) > 3_000_000  # the 3.47 M parameters, as uint8


def test_signed_variant_keeps_every_weight_minus_its_zero_point(layout: ArtifactLayout) -> None:
    """int8-signed.onnx: the same graph, each convolution weight w (uint8, zero point z) stored as
    the int8 w - 128 with zero point z - 128, so that w - z is unchanged."""

    def conv_weights(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
        graph = onnx.load(str(path)).graph
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        into_conv = {node.input[1] for node in graph.node if node.op_type == "Conv"}
        return [
            (inits[n.input[0]], inits[n.input[2]])
            for n in graph.node
            if n.op_type == "DequantizeLinear" and n.output[0] in into_conv and n.input[0] in inits
        ]

    unsigned = conv_weights(layout.onnx("mobilenet_v2", "int8"))
    signed = conv_weights(layout.onnx_signed_int8("mobilenet_v2"))
    assert len(unsigned) == len(signed) == 53
    assert ops(layout.onnx("mobilenet_v2", "int8")) == ops(layout.onnx_signed_int8("mobilenet_v2"))
    for (w, z), (sw, sz) in zip(unsigned, signed, strict=True):
        assert (w.dtype, z.dtype, sw.dtype, sz.dtype) == (np.uint8, np.uint8, np.int8, np.int8)
        assert np.array_equal(w.astype(np.int32) - z, sw.astype(np.int32) - sz)


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
    files = {"source.tflite", "labels.txt", "int8.onnx", "int8-signed.onnx", "fp32.onnx", "fp32-batch1.onnx"}
    files |= {"int8.onnx.gz", "fp32.onnx.gz", "fp32-batch1.onnx.gz"}  # the copies the page downloads
    assert set(entry["files"]) == files
    assert entry["verification"]["int8"]["max_abs"] == 0.0
    assert entry["verification"]["fp32-batch1"]["max_abs"] == entry["verification"]["fp32"]["max_abs"]
    # the signed variant is verified (bit for bit) where the build host has VNNI
    signed = entry["verification"]["int8-signed"]
    assert signed["max_abs"] == 0.0 if has_vnni() else "VNNI" in signed["skipped"]
    assert "grace_hopper.bmp" in entry["verified_on"] or entry["verified_on"][0].startswith("noise")


def test_lock_records_that_batches_equal_single_images(layout: ArtifactLayout) -> None:
    for entry in layout.read_lock()["models"].values():
        for name, figures in entry["verification"].items():
            if name.endswith("-batch1"):  # no batch to check
                assert "batch_max_abs" not in figures and figures["max_abs"] <= figures["tolerance"]
            else:
                assert "skipped" in figures or figures["batch_max_abs"] <= 1e-4


def test_verification_catches_a_model_whose_output_holds_a_nan(
    layout: ArtifactLayout, manifest: Manifest, images: Path, tmp_path: Path
) -> None:
    spec = manifest.get("blazeface_short")
    model = onnx.load(str(layout.onnx("blazeface_short", "fp32")))
    # one bias value NaN: some anchors' outputs become NaN, the others stay exact
    floats = (t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    bias = next(t for t in floats if len(t.dims) == 1 and t.dims[0] > 1)
    values = numpy_helper.to_array(bias).copy()
    values[0] = np.nan
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    broken = tmp_path / "fp32.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(VerificationError, match="= nan exceeds tolerance"):
        verify(spec, layout.tflite("blazeface_short"), broken, "fp32", sample_pixels(spec, images))


def in_another_topological_order(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes, each after its inputs' producers, the latest ready one first: an order
    tflite2onnx could have written (it places some Quantize/Dequantize pairs in set order)."""
    defined = {""} | {value.name for value in graph.input} | {t.name for t in graph.initializer}
    pending = list(graph.node)
    ordered = []
    while pending:
        node = next(n for n in reversed(pending) if set(n.input) <= defined)
        pending.remove(node)
        ordered.append(node)
        defined.update(node.output)
    return ordered


@pytest.mark.parametrize(("model", "precision"), [("mobilenet_v2", "int8"), ("blazeface_short", "fp32")])
def test_the_same_graph_in_any_order_is_written_in_one_order_with_the_same_outputs(
    layout: ArtifactLayout, manifest: Manifest, model: str, precision: Precision
) -> None:
    path = layout.onnx(model, precision)
    as_built, shuffled = onnx.load(str(path)), onnx.load(str(path))
    nodes, initializers = in_another_topological_order(shuffled.graph), list(shuffled.graph.initializer)
    del shuffled.graph.node[:], shuffled.graph.initializer[:]
    shuffled.graph.node.extend(nodes)
    shuffled.graph.initializer.extend(reversed(initializers))
    assert [n.output for n in shuffled.graph.node] != [n.output for n in as_built.graph.node]
    use_canonical_order(as_built.graph)
    use_canonical_order(shuffled.graph)
    assert shuffled.SerializeToString() == as_built.SerializeToString()
    onnx.checker.check_model(as_built)  # nodes still in topological order
    spec = manifest.get(model)
    batch = np.random.default_rng(0).uniform(-1, 1, (2, spec.input.height, spec.input.width, 3))
    feed = {"input": batch.astype(np.float32)}
    canonical = ort.InferenceSession(as_built.SerializeToString(), providers=["CPUExecutionProvider"])
    served = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for ours, theirs in zip(canonical.run(None, feed), served.run(None, feed), strict=True):
        assert np.array_equal(ours, theirs)
