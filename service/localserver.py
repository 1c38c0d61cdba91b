"""Start an HTTP service as a child process on a free loopback port, wait until it is ready, stop it.
Used by the tests, the benchmarks and the load tests, for this service (`serve_app`) and for the
baselines (`running_server` with any command)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

from service.client import get_from
from service.one_line_exit import exits_in_one_line
from service.settings import PROJECT_ROOT

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class ServerDidNotStart(RuntimeError):
    pass


# a command that starts servers (the bench commands, the CI load test): one that exits early or never
# answers ends it with one line on stderr, naming its log, and exit code 1 (it was a traceback)
exits_when_a_server_does_not_start = exits_in_one_line(
    (ServerDidNotStart,), "a server it started did not start"
)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerDidNotStart(f"exited with {process.returncode} before {url} answered; see {log}")
        try:
            if get_from(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise ServerDidNotStart(f"{url} not ready after {timeout_s:.0f} s; see {log}")


@contextmanager
def running_server(
    command: Sequence[str],
    ready_url: str,
    log: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """The server runs in its own process group, so stopping it also stops any workers it forked."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        try:
            wait_until_ready(ready_url, process, timeout_s, log)
            yield process
        finally:
            stop(process)


def unwind_on_sigterm() -> None:
    """A SIGTERM (a CI job's timeout, `kill`) raises KeyboardInterrupt as Ctrl-C does, so the `finally`
    of `running_server` stops the servers in their own process groups, which an immediate exit left
    running. For the commands that start servers (and browsers), not for `serve` (uvicorn drains)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def stop(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def code_env(tree: Path | None = None) -> dict[str, str]:
    """Environment for a `python -m service...` child that runs this process's code (`tree`: another
    checkout's), whatever the working folder holds: `python -m` would import a service/ package
    there first (another checkout's). PYTHONSAFEPATH leaves that folder out; the code's root goes first."""
    path = os.pathsep.join(p for p in (str(tree or PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "PYTHONSAFEPATH": "1"}


def serve_command(port: int, workers: int | None = 1, log_level: str = "warning") -> list[str]:
    """`mobile-vision-api serve` on LOOPBACK:port, with the interpreter running this code. `workers`
    None: as its environment's MVA_WORKERS says (a --workers option would outrank it)."""
    return [
        sys.executable, "-m", "service", "serve", "--host", LOOPBACK, "--port", str(port),
        *(["--workers", str(workers)] if workers is not None else []), "--log-level", log_level,
    ]  # fmt: skip


@contextmanager
def temporary_log(name: str) -> Iterator[Path]:
    """A server's log in the temp folder, removed after a run that ended well (every bench or test run
    left one: thousands); a failed one keeps it, as the error names it."""
    log = Path(tempfile.gettempdir()) / f"mobile-vision-api-{name}.log"
    yield log
    log.unlink(missing_ok=True)


@contextmanager
def serve_app(
    env: dict[str, str] | None = None,
    workers: int | None = None,
    log: Path | None = None,
    timeout_s: float = 180.0,
    log_level: str = "warning",
    tree: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """This service on a free loopback port, running this process's code whatever the working folder
    holds; yields (url, process) once /readyz answers 200. `tree`: the code of another checkout of the
    project (service/bench/checkout.py) instead of this one. `workers`: uvicorn worker processes;
    None: `env`'s MVA_WORKERS (a bench-ab variant's), else 1 (whatever this process's environment says)."""
    if workers is None and "MVA_WORKERS" not in (env or {}):
        workers = 1
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = serve_command(port, workers, log_level)
    env = (env or {}) | code_env(tree)
    with (
        nullcontext(log) if log is not None else temporary_log(str(port)) as log_path,
        running_server(command, f"{url}/readyz", log_path, env, timeout_s, cwd=tree) as process,
    ):
        yield url, process
