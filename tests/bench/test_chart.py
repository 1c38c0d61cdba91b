"""The bench chart: one panel per model, readable latency axes."""

from __future__ import annotations

import warnings
from itertools import pairwise

import matplotlib.pyplot as plt
import pytest
from matplotlib.transforms import Bbox

from service.bench.chart import draw_chart
from service.bench.matrix import Cell, Mode
from service.bench.run import Result
from service.bench.stats import Stats


def _result(cell: Cell, mode: Mode, p50: float) -> Result:
    return Result(cell, mode, Stats.of([p50, p50 * 1.1, p50 * 1.6]))


@pytest.mark.parametrize("slowest_ms", [44.0, 7.0])  # less than two decades: minor ticks get labels
def test_latency_axis_labels_are_plain_numbers_that_do_not_overlap(slowest_ms: float) -> None:
    modes: tuple[Mode, ...] = ("engine", "pipeline", "http")
    results = [
        _result(cell, mode, p50)
        for model in ("mobilenet_v2", "blazeface_short")
        for cell, p50 in (
            (Cell(model, "onnxruntime", "fp32", None, 1), 1.7),
            (Cell(model, "litert", "fp32", "reference", 1), slowest_ms / 1.6),
        )
        for mode in modes
    ]
    figure = draw_chart(results, "title")
    try:
        figure.canvas.draw()
        axes = figure.get_axes()
        assert [a.get_title() for a in axes] == ["mobilenet_v2", "blazeface_short"]
        for axis in axes:
            assert "ms" in axis.get_xlabel()
            left, right = axis.get_xlim()
            labels = [
                t.label1
                for t in axis.xaxis.get_major_ticks() + axis.xaxis.get_minor_ticks()
                if left <= t.get_loc() <= right and t.label1.get_visible() and t.label1.get_text()
            ]
            assert len(labels) >= 2
            assert all("times" not in t.get_text() and "^" not in t.get_text() for t in labels)
            boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
            assert all(a.x1 < b.x0 for a, b in pairwise(boxes)), [t.get_text() for t in labels]
    finally:
        plt.close(figure)


def test_a_failed_cell_is_named_as_failed_and_has_no_bar() -> None:
    """A configuration whose HTTP mode failed keeps its row, named with the failed mode; a model whose
    every cell failed still gets its panel (it had no latency to scale the axis by)."""
    good = Cell("mobilenet_v2", "onnxruntime", "int8", None, 1)
    broken = Cell("blazeface_short", "onnxruntime", "fp32", None, 1)
    results = [
        _result(good, "engine", 5.0),
        Result(good, "http", None, "ServerFailed: /classify: HTTP 401"),
        Result(broken, "engine", None, "RuntimeError: cannot load"),
    ]
    figure = draw_chart(results, "title")
    try:
        figure.canvas.draw()
        mobilenet, blazeface = figure.get_axes()
        assert [t.get_text() for t in mobilenet.get_yticklabels()] == ["onnxruntime int8 t1 (failed: http)"]
        assert [t.get_text() for t in blazeface.get_yticklabels()] == ["onnxruntime fp32 t1 (failed: engine)"]
        assert len(mobilenet.patches) == 1 and not blazeface.patches  # bars: the engine's p50 only
    finally:
        plt.close(figure)


# a one-model run's command line as bench titles its chart with it: longer than one panel is wide
LONG_COMMAND = (
    "mobile-vision-api bench --quick --model mobilenet_v2 --engine onnxruntime --engine litert --engine "
    "reference --threads 1 --threads 2 --mode engine --mode pipeline --out /tmp/a/folder/for/the/bench"
)


@pytest.mark.parametrize("command", ["mobile-vision-api bench --quick", LONG_COMMAND])
def test_a_one_row_chart_has_room_for_its_title_and_legend(command: str) -> None:
    """A matrix of one configuration (a quick bench, a run whose other cells failed) still lays out:
    matplotlib warns, and leaves title, labels and legend overlapping, when the figure is too low; and
    a one-panel chart's title fits its width (a long command line was cut at both edges)."""
    cell = Cell("mobilenet_v2", "onnxruntime", "int8", None, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied"
        figure = draw_chart([_result(cell, "engine", 5.0)], f"{command}\nAMD EPYC, 2 cores")
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        (axis,) = figure.get_axes()
        panel = axis.get_tightbbox(renderer)  # the panel's title, tick labels and axis label too
        (suptitle,) = figure.texts  # the figure's one text of its own
        title = suptitle.get_window_extent(renderer)
        (legend,) = figure.legends
        # what it shows, not its box (padding, drawn or not, may touch the panel's)
        key = Bbox.union([t.get_window_extent(renderer) for t in legend.get_texts()])
        # top to bottom: title, panel, legend, each whole inside the figure and clear of the next
        assert figure.bbox.y1 >= title.y1 and title.y0 > panel.y1 and panel.y0 > key.y1 >= key.y0 >= 0
        assert figure.bbox.x0 <= title.x0 and title.x1 <= figure.bbox.x1
        # every word of it shown, the machine on a line of its own
        shown = suptitle.get_text()
        assert shown.split() == f"{command} AMD EPYC, 2 cores".split() and shown.endswith(
            "\nAMD EPYC, 2 cores"
        )
    finally:
        plt.close(figure)
