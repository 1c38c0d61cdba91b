"""The PNG chart: one panel per model, one row of bars per configuration (p50, whisker to p99), one
colour per mode, log latency axis (the scalar kernels are ~20x the SIMD ones)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from service.bench.matrix import MODES, Cell
from service.bench.run import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = {"engine": "#4c72b0", "pipeline": "#55a868", "http": "#dd8452"}
MODE_NAMES = {"engine": "engine only", "pipeline": "decode + engine + post", "http": "HTTP round trip"}
PANEL_INCHES = 6.5  # a panel's width
TITLE_POINTS = 9
# characters of the title a line holds per inch of the figure: DejaVu Sans averages about 0.55 em a
# character, 9 pt (a command line of options, paths and digits is narrower than that)
TITLE_CHARS_PER_INCH = 72 / (0.6 * TITLE_POINTS)


def write_chart(path: Path, results: list[Result], title: str) -> None:
    import matplotlib.pyplot as plt

    figure = draw_chart(results, title)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_chart(results: list[Result], title: str) -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatter

    models = list(dict.fromkeys(r.cell.model for r in results))
    modes = [m for m in MODES if any(r.mode == m for r in results)]
    rows = max(len({r.cell for r in results if r.cell.model == m}) for m in models)
    width = PANEL_INCHES * len(models)
    # wrapped to the figure's width: one panel's run (a quick bench of one model) cut a 140-character
    # line at both edges
    lines = [
        part for line in title.splitlines() for part in textwrap.wrap(line, int(width * TITLE_CHARS_PER_INCH))
    ]
    # at least 3 inches: a two-line title, the axis label and the legend need them whatever the rows;
    # each line more a line's height
    inches = max(3.0, 1.0 + 0.55 * rows * max(1, len(modes)) / 2) + max(0, len(lines) - 2) * TITLE_POINTS / 54
    figure, axes = plt.subplots(1, len(models), figsize=(width, inches), squeeze=False)
    height = 0.8 / len(modes)
    for axis, model in zip(axes[0], models, strict=True):
        cells = list(dict.fromkeys(r.cell for r in results if r.cell.model == model))
        for m, mode in enumerate(modes):
            stats = {
                r.cell: r.stats
                for r in results
                if r.cell.model == model and r.mode == mode and r.stats is not None
            }
            ys = [i + (m - (len(modes) - 1) / 2) * height for i, c in enumerate(cells) if c in stats]
            shown = [c for c in cells if c in stats]
            p50 = [stats[c].p50_ms for c in shown]
            p99 = [stats[c].p99_ms for c in shown]
            axis.barh(
                ys,
                p50,
                height=height,
                color=COLOURS[mode],
                label=MODE_NAMES[mode],
                xerr=[[0] * len(p50), [hi - lo for lo, hi in zip(p50, p99, strict=True)]],
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"},
            )
            for y, value, top in zip(ys, p50, p99, strict=True):
                axis.text(top * 1.05, y, f"{value:.1f}", va="center", fontsize=7)
        axis.set_yticks(range(len(cells)), [_label(c, results) for c in cells], fontsize=8)
        axis.invert_yaxis()
        axis.set_xscale("log")
        # plain numbers: over less than two decades matplotlib labels minor ticks too, and its
        # default "3x10^0" labels then run into each other
        axis.xaxis.set_major_formatter(LogFormatter())
        axis.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        longest = max((r.stats.p99_ms for r in results if r.cell.model == model and r.stats), default=None)
        if longest is None:  # every cell of the model failed: no latency to scale by
            axis.set_xlim(1, 10)
        else:
            axis.set_xlim(right=longest * 1.8)  # room for the value labels
        axis.set_xlabel("latency, ms (bar p50, whisker p99; log scale)")
        axis.set_title(model)
        axis.grid(axis="x", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(modes), fontsize=9, frameon=False)
    figure.suptitle("\n".join(lines), fontsize=TITLE_POINTS)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return figure


def _label(cell: Cell, results: list[Result]) -> str:
    """The configuration's name, and the modes it failed in (they have no bar)."""
    failed = [r.mode for r in results if r.cell == cell and r.stats is None]
    return f"{cell.label} (failed: {', '.join(failed)})" if failed else cell.label
