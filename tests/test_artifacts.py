from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from service.artifacts import ArtifactLayout
from tests.conftest import damaged_locks

LOCK = {"tools": {"onnx": "1.0"}, "models": {"mobilenet_v2": {"files": {"int8.onnx": "ab12"}}}}


def test_the_lock_file_is_written_only_when_its_content_changes(tmp_path: Path) -> None:
    layout = ArtifactLayout(tmp_path / "models")
    assert layout.write_lock(LOCK)  # the build folder is made on the way
    assert layout.read_lock() == LOCK
    os.utime(layout.lock, ns=(1_000_000_000, 1_000_000_000))  # an mtime a rewrite could not keep
    assert not layout.write_lock({"models": LOCK["models"], "tools": LOCK["tools"]})  # same, keys reordered
    assert layout.lock.stat().st_mtime_ns == 1_000_000_000
    changed = LOCK | {"tools": {"onnx": "1.1"}}
    assert layout.write_lock(changed)
    assert layout.read_lock() == changed and layout.lock.stat().st_mtime_ns != 1_000_000_000


@pytest.mark.parametrize("text", ["[]", "null", '"models"', "{"])
def test_a_lock_that_is_no_json_object_cannot_be_read(tmp_path: Path, text: str) -> None:
    """Every reader of the lock calls .get on it; a hand-edited `[]` was an AttributeError (a 500, a
    start-up traceback), not the ValueError they handle as "cannot be read"."""
    layout = ArtifactLayout(tmp_path / "models")
    layout.build_dir.mkdir(parents=True)
    layout.lock.write_text(text)
    with pytest.raises(ValueError) as caught:
        layout.read_lock()
    assert layout.unreadable_lock(caught.value).startswith("lock.json cannot be read (")


@pytest.mark.parametrize(("where", "lock"), damaged_locks(LOCK, "mobilenet_v2").items())
def test_a_lock_of_a_shape_its_readers_cannot_index_into_cannot_be_read(
    tmp_path: Path, where: str, lock: dict[str, Any]
) -> None:
    """An object with a wrong part inside (`"models": []`, an entry that is a string...) was an
    AttributeError in every reader (a 500 on /v1/models, a start-up or build traceback): the same
    "cannot be read" as a file cut short, naming the part."""
    layout = ArtifactLayout(tmp_path / "models")
    layout.write_lock(lock)
    with pytest.raises(ValueError) as caught:
        layout.read_lock()
    assert layout.unreadable_lock(caught.value) == f"lock.json cannot be read ({where})"


def test_the_parts_of_a_lock_its_readers_only_compare_are_read_as_written(tmp_path: Path) -> None:
    """Only what readers index into is checked: the rest, and parts the build does not write, come back
    as the file has them, for a build to keep (build_all writes back the entries it did not build)."""
    lock = {
        "tools": None,
        "models": {"mobilenet_v2": {"spec_sha256": 7, "verified_on": "noise", "files": {}, "note": [1]}},
        "comment": "copied from the image",
    }
    layout = ArtifactLayout(tmp_path / "models")
    layout.write_lock(lock)
    assert layout.read_lock() == lock
