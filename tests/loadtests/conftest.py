"""Helpers for the load-test tests: the `loadtests.run` command interrupted under load, as a terminal's
Ctrl-C or a CI job's timeout does it."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from service.settings import PROJECT_ROOT
from tests.conftest import kill_leftovers


@dataclass(frozen=True)
class Interrupted:
    exit_code: int
    started: list[psutil.Process]  # what the command had started when it was signalled
    left_running: list[psutil.Process]  # of those, what outlived it


def restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def requests_made(history: Path) -> bool:
    """Whether locust's stats history (written every second) counts requests yet: the load is on."""
    if not history.exists():
        return False
    with history.open(newline="") as rows:
        return any(int(row["Total Request Count"] or 0) > 0 for row in csv.DictReader(rows))


def signal_under_load(command: list[str], history: Path, signum: int) -> Interrupted:
    """Run `command` in a process group of its own, as a shell runs a command (SIGINT not ignored, as in
    a terminal); once `history` counts requests, send `signum` to that group (Ctrl-C: SIGINT; GNU
    timeout: SIGTERM) and wait for the command. Whatever it left running is killed afterwards."""
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True, preexec_fn=restore_sigint)
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline and not requests_made(history):
            time.sleep(0.2)
        started = psutil.Process(run.pid).children(recursive=True)
        os.killpg(run.pid, signum)
        exit_code = run.wait(120)
        return Interrupted(exit_code, started, [p for p in started if p.is_running()])
    finally:
        kill_leftovers(run, started)
