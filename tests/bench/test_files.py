"""The lab's report files are written whole: all of a run's files, or none of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.bench.files import write_texts, write_together
from tests.conftest import PREVIOUS_REPORT, hold_previous


def _fails(path: Path) -> None:
    path.write_text("half")  # a file begun, then the writer stops (a chart error, Ctrl-C)
    raise KeyboardInterrupt


def test_a_run_that_stops_while_writing_leaves_the_previous_files_as_they_were(tmp_path: Path) -> None:
    """bench.json and bench.md are read together by bench-readme: a new one beside an old one would
    give the README one run's machine with another run's tables."""
    for name in ("bench.json", "bench.png", "bench.md"):
        (tmp_path / name).write_text(f"old {name}")
    with pytest.raises(KeyboardInterrupt):
        write_together(
            tmp_path,
            {
                "bench.json": lambda path: path.write_text("new bench.json"),
                "bench.png": _fails,
                "bench.md": lambda path: path.write_text("new bench.md"),
            },
        )
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        name: f"old {name}" for name in ("bench.json", "bench.png", "bench.md")
    }


def test_every_file_is_in_place_once_all_are_written(tmp_path: Path) -> None:
    (tmp_path / "bench.json").write_text("old")
    names = ("bench.json", "bench.md")
    write_together(tmp_path, {name: lambda path: path.write_text(path.name) for name in names})
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {name: name for name in names}


def test_texts_replace_the_previous_files_instead_of_rewriting_them(tmp_path: Path) -> None:
    held = hold_previous(tmp_path / "out" / "goals.json")
    write_texts(tmp_path / "out", {"goals.json": "{}\n", "notes.md": "new\n"})
    assert (tmp_path / "out" / "goals.json").read_text() == "{}\n"
    assert (tmp_path / "out" / "notes.md").read_text() == "new\n"
    assert held.read_text() == PREVIOUS_REPORT
    write_texts(tmp_path / "made", {"a.json": "1\n"})  # the folder is made if need be
    assert (tmp_path / "made" / "a.json").read_text() == "1\n"
