"""tflite -> ONNX. tflite2onnx does the operator translation (without TensorFlow); the passes here
give every model the same NHWC float input and produce the two MobileNet precisions:

- int8: QDQ as quantized. Weights are stored as uint8 behind DequantizeLinear (tflite2onnx stores
  them as float behind a Quantize/Dequantize pair), so onnxruntime fuses int8 kernels and the file is
  a quarter of the size for the browser.
- fp32: every Quantize/Dequantize pair removed; weights are the dequantized tflite weights.
- int8 with signed weights (`signed_int8_weights`): the same arithmetic with int8 instead of uint8
  weights, for onnxruntime's VNNI kernels.
- fp32 with the batch fixed at 1 (`fixed_batch_path`): the same graph before the batch dimension is
  made symbolic, for onnxruntime-web's WebGL backend, which cannot run a symbolic batch.

Every file is written in one canonical order (`use_canonical_order`), so that a build's bytes, and the
sha256 in lock.json, are the same on every run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import tflite2onnx
from onnx import helper, numpy_helper

from service.manifest import Precision

INPUT_NAME = "input"


def convert(
    tflite_path: Path,
    onnx_path: Path,
    precision: Precision,
    quantized: bool,
    fixed_batch_path: Path | None = None,
) -> None:
    """Write `onnx_path` (symbolic batch) and, when given, `fixed_batch_path` (batch 1)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        # tflite2onnx warns once per float16 tensor (BlazeFace full range); the verification step
        # is what decides whether the result is right.
        logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
        tflite2onnx.convert(str(tflite_path), str(raw))
        model = onnx.load(str(raw))
    if quantized and precision == "int8":
        fold_weight_quantization(model)
    elif quantized and precision == "fp32":
        strip_fake_quantization(model)
    elif precision == "int8":
        raise ValueError(f"{tflite_path.name} is a float model: no int8 variant")
    use_nhwc_input(model)
    model.producer_name = "mobile-vision-api"
    if fixed_batch_path is not None:
        _save(model, fixed_batch_path)
    use_symbolic_batch(model)
    _save(model, onnx_path)


def _save(model: onnx.ModelProto, path: Path) -> None:
    use_canonical_order(model.graph)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    onnx.save(model, str(part))
    part.replace(path)


def use_nhwc_input(model: onnx.ModelProto) -> None:
    """tflite2onnx transposes the graph to NCHW; put an NHWC input in front, as in the tflite model,
    so that every engine (and the browser, which has HWC pixels) feeds the same tensor."""
    graph = model.graph
    (old,) = graph.input
    dims = [d.dim_value for d in old.type.tensor_type.shape.dim]
    n, c, h, w = dims
    nchw_name = INPUT_NAME + "_nchw"
    for node in graph.node:
        node.input[:] = [nchw_name if x == old.name else x for x in node.input]
    new_input = helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, [n, h, w, c])
    graph.input.remove(old)
    graph.input.append(new_input)
    graph.node.insert(0, helper.make_node("Transpose", [INPUT_NAME], [nchw_name], perm=[0, 3, 1, 2]))


def use_symbolic_batch(model: onnx.ModelProto) -> None:
    """tflite fixes the batch at 1; make it symbolic so that onnxruntime can run several images in one
    call (the server's opt-in micro-batching). The batch-bound constants are the Reshape targets that
    start with 1: a 0 there copies the input's batch dimension instead (ONNX Reshape, allowzero=0)."""
    graph = model.graph
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    inits = _initializers(graph)
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        target = numpy_helper.to_array(inits[node.input[1]]).copy()
        if target.size and target[0] == 1:
            target[0] = 0
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(target, node.input[1]))
    for node in [
        n for n in graph.node if n.op_type == "Resize" and len(n.input) == 4 and n.input[3] in inits
    ]:
        _resize_keeps_batch(graph, node, numpy_helper.to_array(inits[node.input[3]]))
    # intermediate shapes recorded with batch 1 would contradict the symbolic batch
    del graph.value_info[:]
    _drop_unused_initializers(graph)


def _resize_keeps_batch(graph: onnx.GraphProto, node: onnx.NodeProto, sizes: np.ndarray) -> None:
    """A Resize to constant sizes [1, C, H, W] becomes a Resize to [batch of its input, C, H, W]."""
    base = node.name or node.output[0]
    names = {k: f"{base}/batch_{k}" for k in ("shape", "batch", "sizes", "rest", "start", "end")}
    graph.initializer.extend(
        [
            numpy_helper.from_array(sizes[1:].astype(np.int64), names["rest"]),
            numpy_helper.from_array(np.array([0], dtype=np.int64), names["start"]),
            numpy_helper.from_array(np.array([1], dtype=np.int64), names["end"]),
        ]
    )
    at = list(graph.node).index(node)
    new_nodes = [
        helper.make_node("Shape", [node.input[0]], [names["shape"]]),
        helper.make_node("Slice", [names["shape"], names["start"], names["end"]], [names["batch"]]),
        helper.make_node("Concat", [names["batch"], names["rest"]], [names["sizes"]], axis=0),
    ]
    for offset, new in enumerate(new_nodes):
        graph.node.insert(at + offset, new)
    node.input[3] = names["sizes"]


def _initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def _scalar(inits: dict[str, onnx.TensorProto], name: str) -> np.ndarray:
    return numpy_helper.to_array(inits[name])


def _quantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    info = np.iinfo(zero_point.dtype)
    q = np.rint(values / scale) + zero_point.astype(np.int64)
    return np.clip(q, info.min, info.max).astype(zero_point.dtype)


def fold_weight_quantization(model: onnx.ModelProto) -> None:
    """QuantizeLinear(float initializer) -> integer initializer. Activation Q/DQ pairs stay."""
    graph = model.graph
    inits = _initializers(graph)
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits:
            continue
        values = numpy_helper.to_array(inits[node.input[0]])
        zero_point = _scalar(inits, node.input[2])
        q = _quantize(values, _scalar(inits, node.input[1]), zero_point)
        graph.initializer.append(numpy_helper.from_array(q, node.output[0]))
        graph.node.remove(node)
    _drop_unused_initializers(graph)


def signed_int8_weights(model: onnx.ModelProto) -> int:
    """Every uint8 weight w with zero point z (a DequantizeLinear feeding a Conv) becomes the int8
    w - 128 with zero point z - 128. (w - z) is unchanged, so results are bit for bit the same, but
    onnxruntime then runs its u8 x s8 GEMM, which uses VNNI (vpdpbusds) on AVX-512 VNNI / AVX-VNNI
    CPUs; with uint8 weights it runs the u8 x u8 kernels, which do not (MobileNetV2 at 1 thread here:
    7.3 -> 5.2 ms). Without VNNI, x86 u8 x s8 kernels can saturate 16-bit sums (onnxruntime's
    quantization docs), so the service picks this variant only where VNNI is (service/cpu.py).
    Returns how many weights changed."""
    graph = model.graph
    inits = _initializers(graph)
    conv_weights = {node.input[1] for node in graph.node if node.op_type == "Conv"}
    changed = 0
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.output[0] not in conv_weights:
            continue
        weights = inits.get(node.input[0])
        if weights is None or weights.data_type != onnx.TensorProto.UINT8 or len(node.input) < 3:
            continue
        zero_point = _scalar(inits, node.input[2])
        for index, array in ((0, numpy_helper.to_array(weights)), (2, zero_point)):
            name = f"{node.input[index]}/signed"
            if name not in inits:  # zero points are scalars that several nodes share
                signed = (array.astype(np.int16) - 128).astype(np.int8)
                inits[name] = numpy_helper.from_array(signed, name)
                graph.initializer.append(inits[name])
            node.input[index] = name
        changed += 1
    _drop_unused_initializers(graph)
    return changed


def write_signed_int8_variant(int8_path: Path, out_path: Path) -> None:
    """int8.onnx -> the same model with signed weights (see `signed_int8_weights`)."""
    model = onnx.load(str(int8_path))
    if not signed_int8_weights(model):
        raise ValueError(f"{int8_path} has no uint8 convolution weights")
    _save(model, out_path)


def strip_fake_quantization(model: onnx.ModelProto) -> None:
    """Remove every QuantizeLinear -> DequantizeLinear pair. A weight becomes its dequantized value
    (dq(q(w)), which equals the tflite weight exactly); an activation is left unrounded."""
    graph = model.graph
    inits = _initializers(graph)
    producers = {out: node for node in graph.node for out in node.output}
    rename: dict[str, str] = {}
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        q = producers.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            continue
        source = q.input[0]
        if source in inits:
            scale, zero_point = _scalar(inits, q.input[1]), _scalar(inits, q.input[2])
            weights = numpy_helper.to_array(inits[source])
            exact = (_quantize(weights, scale, zero_point).astype(np.int64) - zero_point) * scale
            graph.initializer.append(numpy_helper.from_array(exact.astype(np.float32), dq.output[0]))
        else:
            rename[dq.output[0]] = source
        graph.node.remove(q)
        graph.node.remove(dq)
    for node in graph.node:
        node.input[:] = [rename.get(x, x) for x in node.input]
    for output in graph.output:
        if output.name in rename:
            # keep the graph's output name: route it through an Identity
            graph.node.append(helper.make_node("Identity", [rename[output.name]], [output.name]))
    _drop_unused_initializers(graph)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {x for node in graph.node for x in node.input}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)


def use_canonical_order(graph: onnx.GraphProto) -> None:
    """The same graph in the same order on every build, so that its file's sha256 (lock.json) is too.
    tflite2onnx collects initializers and value_info in sets of tensor objects, which iterate in
    memory-address order: each run wrote them in another order. It also inserts its
    Quantize/Dequantize pairs in that order, so a node fed by two of them (MobileNetV2's first Conv:
    the input's and the weights') can get them either way round. Initializers and value_info go by
    name; nodes in depth-first order from the graph outputs, each after the producers of its inputs
    (in input order): topological, and a function of the graph alone, not of the order it came in."""
    graph.initializer.sort(key=lambda tensor: tensor.name)
    graph.value_info.sort(key=lambda value: value.name)
    reordered = []
    for index in _depth_first_from_outputs(graph):
        node = onnx.NodeProto()
        node.CopyFrom(graph.node[index])
        reordered.append(node)
    del graph.node[:]
    graph.node.extend(reordered)


def _depth_first_from_outputs(graph: onnx.GraphProto) -> list[int]:
    """Indices of `graph.node`, each after the producers of its inputs: a post-order walk from each
    graph output in turn, then from any node no output depends on (by output names), so none is
    lost. Iterative: a chain of a few hundred nodes would pass Python's recursion limit."""
    nodes = graph.node
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}

    def producers_of(index: int) -> Iterator[int]:
        return (producer[name] for name in nodes[index].input if name in producer)

    roots = [producer[value.name] for value in graph.output if value.name in producer]
    roots += sorted(range(len(nodes)), key=lambda index: list(nodes[index].output))
    order: list[int] = []
    seen: set[int] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, producers_of(root))]  # a node, and its inputs' producers still to look at
        while stack:
            index, pending = stack[-1]
            unseen = next((p for p in pending if p not in seen), None)
            if unseen is None:
                stack.pop()
                order.append(index)
            else:
                seen.add(unseen)
                stack.append((unseen, producers_of(unseen)))
    return order
