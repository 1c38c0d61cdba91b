"""service/shared_auto.py: preset=auto measured once for the worker processes of a run, with a real
measurement and real file locks (two threads' locks on one file exclude each other as two processes'
do); the two-process server is in tests/api/test_preset_auto.py."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout
from service.autotune import AutoChoice, tune
from service.errors import NotReady
from service.manifest import Manifest
from service.shared_auto import SharedAutoChoices


@pytest.fixture(scope="module")
def measured(manifest: Manifest, layout: ArtifactLayout) -> AutoChoice:
    return tune(manifest.get("blazeface_short"), layout, rounds=2, warmup=1)


def test_the_first_measures_and_the_others_read_its_result(measured: AutoChoice, tmp_path: Path) -> None:
    calls: list[str] = []

    def measure() -> AutoChoice:
        calls.append("measured")
        return measured

    assert SharedAutoChoices(tmp_path).measured_once("blazeface_short", measure) == measured
    another_process = SharedAutoChoices(tmp_path)
    read = another_process.measured_once("blazeface_short", measure)
    assert calls == ["measured"]
    assert read.as_dict() == measured.as_dict() and read.choice == measured.choice
    assert another_process.recorded() == {"blazeface_short": read}


def test_nothing_recorded_yet(tmp_path: Path) -> None:
    assert SharedAutoChoices(tmp_path).recorded() == {}


def test_those_waiting_for_a_failed_measurement_fail_with_it_and_the_next_measures_again(
    measured: AutoChoice, tmp_path: Path
) -> None:
    shared = SharedAutoChoices(tmp_path)
    waited: list[BaseException | AutoChoice] = []

    def failing() -> AutoChoice:
        # another process's request arrives while this one measures, and waits for it
        waiter.start()
        _until(lambda: _waiting_for(tmp_path / "blazeface_short.lock"))
        raise RuntimeError("/srv/models/blazeface_short/fp32.onnx: protobuf parsing failed")

    def wait() -> None:
        try:
            waited.append(shared.measured_once("blazeface_short", _never))
        except NotReady as exc:
            waited.append(exc)

    waiter = threading.Thread(target=wait)
    with pytest.raises(RuntimeError, match="protobuf parsing failed"):
        shared.measured_once("blazeface_short", failing)
    waiter.join(60)
    [failure] = waited
    assert isinstance(failure, NotReady)
    # the exception's kind only: its text, which names server paths, is in the log of who measured
    assert failure.message == (
        "preset=auto's measurement of blazeface_short failed in another worker process (RuntimeError)"
    )
    assert shared.recorded() == {}
    # the next request measures again
    assert shared.measured_once("blazeface_short", lambda: measured) == measured
    assert [(model, read.as_dict()) for model, read in shared.recorded().items()] == [
        ("blazeface_short", measured.as_dict())
    ]


def _never() -> AutoChoice:
    raise AssertionError("measured a second time")


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _waiting_for(lock_file: Path) -> bool:
    """Whether someone waits for the lock on `lock_file` (the kernel's list of locks, /proc/locks, marks
    a waiter's line with `->`)."""
    inode = f":{os.stat(lock_file).st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())
