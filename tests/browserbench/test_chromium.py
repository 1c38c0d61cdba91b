"""service/browserbench/chromium.py: the browser it launches, in real chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from service.settings import PROJECT_ROOT
from tests.conftest import kill_leftovers

# a page open in chromium_context, waiting inside playwright (as bench-browser waits for the page)
OPEN_AND_WAIT = """
from service.browserbench.chromium import chromium_context, find_chromium
with chromium_context(find_chromium()) as context:
    page = context.new_page()
    print(flush=True)
    page.wait_for_timeout(120_000)
"""


def test_ctrl_c_ends_in_the_interrupt_not_in_a_closing_error(chromium: Path) -> None:
    """Ctrl-C reaches the whole foreground group: playwright's driver closes chromium on it, and the
    profile's close then raised TargetClosedError over the KeyboardInterrupt: a page of playwright
    traceback ended bench-browser instead of the interrupt. Chromium and its profile still go."""
    run = subprocess.Popen(
        [sys.executable, "-c", OPEN_AND_WAIT],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MVA_CHROMIUM": str(chromium)},
        start_new_session=True,  # a group of its own, as a terminal's foreground job is
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: list[psutil.Process] = []
    try:
        assert run.stdout is not None and run.stdout.readline() == "\n"  # the page is open
        started = psutil.Process(run.pid).children(recursive=True)
        flag = "--user-data-dir="
        profiles = {arg.removeprefix(flag) for p in started for arg in p.cmdline() if arg.startswith(flag)}
        os.killpg(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
        # (asyncio may add a note of the driver's closed pipe: the driver took the Ctrl-C too)
        assert "\nKeyboardInterrupt\n" in stderr and "TargetClosedError" not in stderr, stderr
        assert still_running(started, within_s=10) == []
        assert profiles and not any(Path(profile).exists() for profile in profiles)
    finally:
        kill_leftovers(run, started)


def still_running(processes: list[psutil.Process], within_s: float) -> list[psutil.Process]:
    """Those of `processes` that have not ended (or become zombies) within `within_s`: a child of
    chromium may still be on its way out when the command returns."""
    deadline = time.monotonic() + within_s
    while True:
        running = [p for p in processes if _running(p)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # ended between the two questions
        return False
