from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from service.artifacts import ArtifactLayout
from service.modelbuild.build import build_all


def test_a_build_waits_for_the_one_running_in_its_folder_then_builds(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    """Two builds at once in one models folder each emptied the other's staging folder and wrote the
    same `.part` files. The test holds the folder as a running build does; the build must wait,
    writing nothing, until it is let go."""
    own_layout.build_dir.mkdir()
    running = os.open(own_layout.build_dir, os.O_RDONLY)
    fcntl.flock(running, fcntl.LOCK_EX)
    messages: list[str] = []
    build = threading.Thread(
        target=build_all, args=(own_layout, mirror, None, ["short"]), kwargs={"log": messages.append}
    )
    build.start()
    try:
        # until it says something (that it waits, or, not waiting, what it fetches), or ends
        deadline = time.monotonic() + 120
        while build.is_alive() and not messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert messages == [
            f"{own_layout.build_dir}: another models build is running there; waiting for it to finish"
        ]
        assert build.is_alive()
        assert sorted(p.name for p in own_layout.build_dir.iterdir()) == []
    finally:
        os.close(running)  # the running build ends
        build.join(timeout=300)
    assert not build.is_alive()
    assert own_layout.read_lock()["models"]["blazeface_short"]["files"]
    assert messages[-1].startswith("blazeface_short: fp32-batch1.onnx ")
