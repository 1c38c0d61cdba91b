"""Helpers for the load-test tests: the `loadtests.run` command interrupted under load, as a terminal's
Ctrl-C or a CI job's timeout does it; the options locust takes with the locustfile; a late server
answering as the service does."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

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


# what locust's parser makes of each argument given a value (7: no option's default): the locustfile
# options it set (by dest), null when it refuses the argument (an ambiguous prefix, one it lacks)
_LOCUST_READS = """
import json, sys, loadtests.locustfile
from locust.argument_parser import get_parser
parser = get_parser(default_config_files=[])
defaults = vars(parser.parse_known_args([])[0])
reads = {}
for arg in json.loads(sys.argv[1]):
    try:
        parsed = vars(parser.parse_known_args([arg, "7"])[0])
    except SystemExit:
        reads[arg] = None
    else:
        changed = (dest for dest, value in parsed.items() if value != defaults[dest])
        reads[arg] = sorted(dest for dest in changed if dest.startswith("mva_"))
print(json.dumps(reads))
"""


def locust_reads(args: list[str]) -> dict[str, list[str] | None]:
    """For each of `args`, followed by a value, the --mva-* options `locust -f loadtests/locustfile.py`
    sets (their dests: mva_precision), None when it refuses it. In a process of its own, as locust_options."""
    printed = subprocess.run(
        [sys.executable, "-c", _LOCUST_READS, json.dumps(args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(printed)


def late_replayer(answers: Mapping[str, bytes], delay_s: float) -> type[BaseHTTPRequestHandler]:
    """A late server's handler: each POST waits `delay_s`, then gets the JSON answer `answers` holds for its
    path (the service's own, recorded), so that every request takes a little more than `delay_s`. The
    service itself would add its own time under load, which a busy host makes tens or hundreds of ms."""

    class LateReplayer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as locust's client expects of the service
        wbufsize = -1  # head and body in one send: apart, Nagle and delayed ACKs add 40 ms

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay_s)
            body = answers[urlsplit(self.path).path]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass  # no line on stderr per request

    return LateReplayer
