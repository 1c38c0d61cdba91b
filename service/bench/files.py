"""Writing the latency lab's report files whole: bench-readme reads them back, and a file cut short by a
crash or Ctrl-C mid-write (or a set of files from two runs) would give the README a torn or mixed run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path


def write_together(out: Path, writers: dict[str, Callable[[Path], object]]) -> None:
    """name -> writer(path): every file is written into a folder of its own inside `out` first, then
    moved into place. A failure or Ctrl-C while writing (the chart takes a second) leaves the previous
    run's files as they were, never new ones beside old ones: bench-readme reads bench.json and bench.md
    as one run."""
    with tempfile.TemporaryDirectory(dir=out, prefix=".writing-") as folder:
        for name, write in writers.items():
            write(Path(folder) / name)
        for name in writers:
            (Path(folder) / name).replace(out / name)


def write_texts(out: Path, texts: dict[str, str]) -> None:
    """name -> text, written together into `out` (made if need be)."""
    out.mkdir(parents=True, exist_ok=True)
    write_together(out, {name: _text_writer(text) for name, text in texts.items()})


def _text_writer(text: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(text)
