"""SSD anchors as MediaPipe's SsdAnchorsCalculator generates them (only the options BlazeFace uses:
no reduced lowest layer, one feature map per stride, row-major cells)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from service.manifest import AnchorOptions


def _scale(options: AnchorOptions, index: int) -> float:
    if options.num_layers == 1:
        return (options.min_scale + options.max_scale) / 2
    return options.min_scale + (options.max_scale - options.min_scale) * index / (options.num_layers - 1)


@cache
def anchors_for(options: AnchorOptions) -> np.ndarray:
    """[N, 4] float32: x_center, y_center, width, height, as fractions of the input."""
    rows: list[np.ndarray] = []
    strides = options.strides
    layer = 0
    while layer < options.num_layers:
        widths: list[float] = []
        heights: list[float] = []
        last = layer
        # consecutive layers with the same stride share one feature map
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(options, last)
            pairs = [(ratio, scale) for ratio in options.aspect_ratios]
            if options.interpolated_scale_aspect_ratio > 0:
                next_scale = 1.0 if last == len(strides) - 1 else _scale(options, last + 1)
                pairs.append((options.interpolated_scale_aspect_ratio, math.sqrt(scale * next_scale)))
            for ratio, s in pairs:
                widths.append(s * math.sqrt(ratio))
                heights.append(s / math.sqrt(ratio))
            last += 1
        stride = strides[layer]
        fm_h = math.ceil(options.input_size_height / stride)
        fm_w = math.ceil(options.input_size_width / stride)
        ys, xs, ks = np.meshgrid(np.arange(fm_h), np.arange(fm_w), np.arange(len(widths)), indexing="ij")
        count = ys.size
        layer_anchors = np.empty((count, 4), dtype=np.float32)
        layer_anchors[:, 0] = (xs.reshape(-1) + options.anchor_offset_x) / fm_w
        layer_anchors[:, 1] = (ys.reshape(-1) + options.anchor_offset_y) / fm_h
        if options.fixed_anchor_size:
            layer_anchors[:, 2:] = 1.0
        else:
            layer_anchors[:, 2] = np.asarray(widths, dtype=np.float32)[ks.reshape(-1)]
            layer_anchors[:, 3] = np.asarray(heights, dtype=np.float32)[ks.reshape(-1)]
        rows.append(layer_anchors)
        layer = last
    anchors = np.concatenate(rows)
    anchors.setflags(write=False)
    return anchors
