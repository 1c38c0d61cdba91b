"""Helpers for the load-test tests: the `loadtests.run` command interrupted under load, as a terminal's
Ctrl-C or a CI job's timeout does it; the options locust takes with the locustfile."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
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


# locust's parser with the locustfile's options added, as `locust -f loadtests/locustfile.py` builds it
_LOCUST_OPTIONS = """
import json, loadtests.locustfile
from locust.argument_parser import get_parser
parser = get_parser(default_config_files=[])
print(json.dumps([option for action in parser._actions for option in action.option_strings]))
"""


@cache
def locust_options() -> frozenset[str]:
    """Every option `locust -f loadtests/locustfile.py` takes: locust's own and the locustfile's `--mva-*`.
    In a process of its own: importing locust patches the standard library for gevent."""
    printed = subprocess.run(
        [sys.executable, "-c", _LOCUST_OPTIONS], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return frozenset(json.loads(printed))
