"""`python -m service.browserbench`, the README's other way to run the report: a SIGTERM stops what it
started, as `mobile-vision-api bench-browser` does."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from service.settings import PROJECT_ROOT
from tests.conftest import kill_leftovers


def _cmdline(process: psutil.Process) -> list[str]:
    """Its command line; none for one already gone or a zombie (a chromium helper that exited before
    its parent reaped it raised ZombieProcess here once)."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _started(run: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The server and the chromium processes `run` has started so far."""
    found = []
    for p in psutil.Process(run.pid).children(recursive=True):
        try:
            if "serve" in _cmdline(p) or p.name() == "chromium":
                found.append(p)
        except psutil.Error:  # gone since it was listed
            continue
    return found


@pytest.mark.usefixtures("chromium", "page_built")  # the command serves the built page
def test_a_sigterm_stops_the_server_and_the_browser(tmp_path: Path, images: Path) -> None:
    """The module ran the command without the CLI's SIGTERM handling: a `kill` ended it at once and
    left the server it started (in a process group of its own) serving."""
    command = [
        sys.executable, "-m", "service.browserbench", "--iterations", "1", "--images", str(images),
        "--out", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True)
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180  # a guard against a hang, not a speed check
        while run.poll() is None and time.monotonic() < deadline:
            started = _started(run)
            if any(p.name() == "chromium" for p in started) and any("serve" in _cmdline(p) for p in started):
                break
            time.sleep(0.2)
        assert any("serve" in _cmdline(p) for p in started), "no server started"
        assert any(p.name() == "chromium" for p in started), "no chromium started"
        flag = "--user-data-dir="
        profiles = {arg.removeprefix(flag) for p in started for arg in _cmdline(p) if arg.startswith(flag)}
        run.send_signal(signal.SIGTERM)  # to the command alone, as `kill` does
        run.wait(120)
        assert [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
        assert profiles and not any(Path(profile).exists() for profile in profiles)
        assert not (tmp_path / "browser.json").exists()
    finally:
        kill_leftovers(run, started)
