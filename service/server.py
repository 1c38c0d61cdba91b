"""Running the app under uvicorn, with a shutdown that loses no accepted request: on SIGTERM the
service reports not-ready at once, keeps serving for MVA_SHUTDOWN_DELAY_S (so a load balancer or
Kubernetes stops routing to it), then stops accepting, lets in-flight requests finish (up to the
graceful timeout) and exits. With `--workers N` uvicorn's supervisor gets the signal, so the same
shutdown is the supervisor's (DrainingSupervisor)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from service.api.app import create_app
from service.api.malformed_http import protocol_for
from service.api.metrics import MULTIPROC_DIR
from service.backoff import SlotBackoff, SlotBackoffs, how_it_ended
from service.logs import log_config, log_warnings
from service.processes import ProcessIdentity, end_with_parent, identity_of
from service.settings import load_server_settings
from service.workers import (
    JOINS_SERVING,
    SIGHUP_RESTART,
    Siblings,
    drain_marker,
    made_folder,
    record_worker_count,
    shared_run_folder,
)

log = logging.getLogger("mobile_vision_api")

GRACEFUL_TIMEOUT_S = 10
# how long SIGHUP's rolling restart waits for each new process to start and warm up, after which it keeps
# the old one and gives the restart up: uvicorn's 5 s (timeout_worker_healthcheck, its pings' too) were
# less than the imports alone took on 2 busy cores, and the restart stopped halfway
RESTART_WAIT_S = 60
SUPERVISOR_PID = "MVA_SUPERVISOR_PID"  # set by `serve --workers N` for its worker processes


def worker_app() -> FastAPI:
    """The app of one process of `serve --workers N` (uvicorn's supervisor imports this factory in each),
    which ends with the supervisor, also one killed with SIGKILL."""
    end_with_parent(int(os.environ[SUPERVISOR_PID]))
    log_warnings()
    # its own settings, and with them its own read of the manifest, deliberately: the supervisor's read
    # (serve) was another process's, and a process SIGHUP's rolling restart starts runs with the
    # manifest as it is then
    return create_app()


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, begin_shutdown: threading.Event, delay_s: float) -> None:
        super().__init__(config)
        self._begin_shutdown = begin_shutdown
        self._delay_s = delay_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # a second signal, or SIGINT (Ctrl-C), shuts down now, as DrainingSupervisor does
        if self._begin_shutdown.is_set() or sig == signal.SIGINT:
            self._begin_shutdown.set()
            self._stop(sig, frame)
            return
        self._begin_shutdown.set()
        log.info("signal %s: not ready; draining in %.1f s", sig, self._delay_s)
        if self._delay_s > 0:
            # uvicorn polls should_exit on its own loop; setting it from a timer thread is safe
            timer = threading.Timer(self._delay_s, self._stop, (sig, frame))
            timer.daemon = True  # a second signal meanwhile ends the run without waiting for it
            timer.start()
        else:
            self._stop(sig, frame)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)  # SIGINT: raised again once shut down, exit 130 as Ctrl-C's
            return
        # uvicorn's handle_exit also records the signal and raises it again once shut down: the process
        # died of SIGTERM (exit 143; 0 only as a container's PID 1, which ignores it), and orchestrators
        # log that as a failure. A drained SIGTERM exits 0, as the supervisor of `--workers N` does.
        self.should_exit = True


class DrainingSupervisor(Multiprocess):
    """uvicorn's supervisor of `--workers N` with the shutdown above: on SIGTERM every process reports
    not-ready at once (the run folder's `draining` file, read by /readyz) and keeps serving for the
    delay; then uvicorn stops them as usual, each finishing its in-flight requests. SIGINT (Ctrl-C
    reaches the workers too) and a second SIGTERM stop at once. SIGTTIN and SIGTTOU add a process or
    retire one, as uvicorn's do, and /readyz waits for as many as there are then. A process that keeps
    exits before its warm-up ended is replaced later each time (service/backoff.py), not every 0.5 s."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], run_dir: Path, delay_s: float
    ) -> None:
        super().__init__(config, sockets)
        self._run_dir = run_dir
        self._marker = drain_marker(run_dir)
        self._delay_s = delay_s
        self._siblings = Siblings(run_dir / "ready")  # read for the marks of processes that started
        self._backoffs: SlotBackoffs[Process] = SlotBackoffs(identify=_identity_now)

    def init_processes(self) -> None:
        super().init_processes()
        self._note_new_processes()
        # every process started from now on warms up before it serves (Siblings.joins_serving); the
        # first ones warm up serving /healthz, with nothing else to serve meanwhile
        os.environ[JOINS_SERVING] = "1"

    def handle_hup(self) -> None:
        if self._starts_nothing_while_draining("SIGHUP"):
            return
        super().handle_hup()

    def _starts_nothing_while_draining(self, signal_name: str) -> bool:
        """After SIGTERM a process started for SIGHUP or SIGTTIN would warm up only to be stopped when the
        drain ends (SIGKILLed if still warming): the signal is ignored, and the log says so."""
        # the marker: a SIGTERM's drain; should_exit: a SIGTERM without a drain delay, a SIGINT
        if not (self.should_exit.is_set() or self._marker.exists()):
            return False
        log.info("%s while draining: no process started", signal_name)
        return True

    def restart_all(self) -> None:
        # uvicorn's restart waits for each new process this long; its pings keep their own timeout
        ping_timeout = self.config.timeout_worker_healthcheck
        self.config.timeout_worker_healthcheck = RESTART_WAIT_S
        # for the processes the restart starts (spawned: each takes os.environ as it is when started) and
        # no other: one whose warm-up fails exits, and uvicorn keeps the old one (service/api/app.py)
        os.environ[SIGHUP_RESTART] = "1"
        before = set(self.processes)
        try:
            super().restart_all()
        finally:
            del os.environ[SIGHUP_RESTART]
            self.config.timeout_worker_healthcheck = ping_timeout
            self._note_new_processes()
            # uvicorn keeps a process its restart started only once it answered ready, after its warm-up
            # (SIGHUP_RESTART): it has started, whatever came after. Read from its mark instead, one that
            # died while a later slot's process was being started could not be matched to it (starting a
            # process reaps the children that died, and their identity with them): a false quick exit
            for process in self.processes:
                if process not in before:
                    self._backoffs.of(process, time.monotonic()).note_started()

    def handle_term(self) -> None:
        if self._delay_s <= 0 or self._marker.exists():
            super().handle_term()
            return
        self._marker.touch()
        log.info("SIGTERM: not ready; draining in %.1f s", self._delay_s)
        # the supervisor's loop waits on should_exit, an Event: setting it from a timer thread is safe
        timer = threading.Timer(self._delay_s, super().handle_term)
        timer.daemon = True  # a SIGINT meanwhile ends the run without waiting for it
        timer.start()

    def handle_ttin(self) -> None:
        if self._starts_nothing_while_draining("SIGTTIN"):
            return
        super().handle_ttin()
        self._note_new_processes()
        # uvicorn's count, recorded as soon as the process is started, long before it could serve:
        # the others said ready while it warmed up
        self._record_worker_count(self.processes_num)

    def handle_ttou(self) -> None:
        # recorded first: super() waits while the one retired drains, and it takes its ready file away
        # meanwhile (uvicorn keeps one process at least)
        self._record_worker_count(max(1, self.processes_num - 1))
        super().handle_ttou()

    def _record_worker_count(self, count: int) -> None:
        """For /readyz (Siblings.expected_now). A run folder it cannot write to raised out of the
        supervisor's loop, which ended the server; /readyz then goes by the count recorded last."""
        try:
            record_worker_count(self._run_dir, count)
        except OSError as exc:
            log.warning(
                "cannot record the worker count (%d) in %s, /readyz goes by the one recorded before: %s",
                count,
                self._run_dir,
                exc.strerror or exc,
            )

    def keep_subprocess_alive(self) -> None:
        if not self._marker.exists():
            self._keep_alive_backing_off()
        elif not any(process.process.is_alive() for process in self.processes):
            # shutting down: a worker that stopped (the signal reached the process group) is not
            # replaced, and once none is left there is nothing to drain
            self.should_exit.set()

    def _keep_alive_backing_off(self) -> None:
        """uvicorn's keep_subprocess_alive, which starts a dead process's replacement at once, shown only
        the slots it may act on now: a slot held back is looked at again at the next check, and the
        supervisor's loop goes on handling signals every 0.5 s meanwhile (no sleep)."""
        if self.should_exit.is_set():
            # Ctrl-C, or a SIGTERM without delay handled just before: uvicorn restarts nothing now, and a
            # dead process counted here would log a restart that never comes
            return
        now = time.monotonic()
        every = self.processes
        shown = [idx for idx, process in enumerate(every) if self._may_check(idx, process, now)]
        self.processes = [every[idx] for idx in shown]
        try:
            super().keep_subprocess_alive()
        finally:
            returned, self.processes = self.processes, every
        # uvicorn (0.54.0) replaces a dead process in place, in the list it was shown, and neither adds
        # nor removes one: each slot shown gets back what that place holds now
        if len(returned) != len(shown):
            raise RuntimeError(
                f"uvicorn's keep_subprocess_alive returned {len(returned)} processes of {len(shown)} shown: "
                "the backoff (service/backoff.py) relies on it replacing them in place"
            )
        after = time.monotonic()
        for idx, process in zip(shown, returned, strict=True):
            if process is not every[idx]:
                self._backoffs.replaced(every[idx], process, after)  # its identity read at once
                every[idx] = process
        self._backoffs.keep_only(every)  # those SIGTTOU retired, SIGHUP's restart replaced

    def _may_check(self, idx: int, process: Process, now: float) -> bool:
        """Decides whether uvicorn's check may see slot `idx`'s `process` now, and counts a dead one's
        exit. Not a running one until it has started (marked itself ready or failed, or ran
        UNMARKED_START_S unmarked): its exit is watched here (uvicorn's health-check ping waits up to 5 s,
        and a process that died meanwhile was replaced at once, past the backoff). Not a dead one until its
        slot's delay is over: counted once, when first seen dead, with one warning per delayed restart,
        so that a crash loop shows in the log."""
        slot = self._backoffs.of(process, now)  # before is_alive(), which reaps a dead one: its pid is freed
        if process.process.is_alive():
            marked = not slot.started and self._has_marked(slot.identity)
            if not slot.started and slot.may_count_as_started(marked, now):
                self._note_started(idx, process, slot, marked)
            return slot.started
        if process.exitcode == STARTUP_FAILURE:  # uvicorn stops the server: it would fail every time
            return True
        if not slot.exit_counted:
            if not slot.started and self._has_marked(slot.identity):  # marked, then died between two checks
                self._note_started(idx, process, slot, marked=True)
            delay = slot.exited(now)
            if delay > 0:
                log.warning(
                    "worker process %s (slot %d of %d) %s %.1f s after it started, before it marked itself "
                    "ready or failed, %d quick exit(s) in a row: restarting it in %.0f s",
                    process.pid,
                    idx + 1,
                    len(self.processes),
                    how_it_ended(process.exitcode or 0),
                    now - slot.first_seen,
                    slot.quick_exits,
                    delay,
                )
        return slot.due(now)

    def _note_started(self, idx: int, process: Process, slot: SlotBackoff, marked: bool) -> None:
        quick_exits = slot.note_started()
        if quick_exits:
            log.info(
                "worker process %s (slot %d of %d) %s after %d quick exit(s)",
                process.pid,
                idx + 1,
                len(self.processes),
                "serves again" if marked else "has run long enough, never marked ready, to count as started",
                quick_exits,
            )

    def _note_new_processes(self) -> None:
        """Each new process's SlotBackoff, its identity read as soon as the supervisor has started it:
        multiprocessing reaps every finished child whenever it starts another, and a reaped process's
        identity is gone (a process that marked itself ready and died before its first check would count
        as a quick exit). Processes uvicorn starts inside restart_all are noted once it returns."""
        now = time.monotonic()
        for process in self.processes:
            self._backoffs.of(process, now)

    def _has_marked(self, identity: ProcessIdentity | None) -> bool:
        return identity is not None and self._siblings.has_marked(identity)


def _identity_now(process: Process) -> ProcessIdentity | None:
    """Read while the supervisor has not reaped the process (a zombie keeps its /proc entry): its ready
    file's name (Siblings.mark_ready)."""
    return None if process.pid is None else identity_of(process.pid)


def forget_inherited_markers() -> None:
    """The supervisor sets JOINS_SERVING and SIGHUP_RESTART for the processes it starts later. Inherited
    (a copied worker environment), they made the first processes warm up before they listen, and a
    process SIGTTIN adds fail its startup on a failed warm-up, which stops the supervisor."""
    for later_only in (JOINS_SERVING, SIGHUP_RESTART):
        os.environ.pop(later_only, None)


class CannotListen(Exception):
    """The address cannot be bound: the port is in use, the host is not this machine's, a port below
    1024 without the privilege. `serve` says so in one line and exits with EXIT_CANNOT_LISTEN."""


EXIT_CANNOT_LISTEN = STARTUP_FAILURE  # uvicorn's own exit code for a start-up failure (3)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else starts. uvicorn's own bind failed with its own
    log line and exit 3, in one process only after the app had started and begun warming up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections of a socket that says
    # TCP, so with `--loop asyncio` an answer's body, written after its head, waited ~40 ms for the
    # client's delayed ACK (uvloop sets TCP_NODELAY itself)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no conflict
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        address = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        reason = (exc.strerror or str(exc)).lower()
        raise CannotListen(
            f"cannot listen on {address}: {reason} (--host/--port, MVA_HOST/MVA_PORT)"
        ) from None
    sock.set_inheritable(True)  # the worker processes of --workers N serve on it too
    return sock


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str,
    loop: str = "uvloop",
    http: str = "httptools",
    log_format: str = "text",
    keep_alive_s: float = 5.0,
) -> None:
    common: dict[str, Any] = dict(
        host=host,
        port=port,
        loop=loop,
        http=protocol_for(http),  # its 400 for HTTP it cannot parse is JSON
        log_level=log_level,
        log_config=log_config(log_level, log_format),  # applied in every worker process too
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
        # a proxy that reuses a connection this side is just closing gets a reset and answers 502
        timeout_keep_alive=keep_alive_s,
    )
    log_warnings()
    # read and checked here, before any worker starts: a bad MVA_* value stops start-up with the reason
    settings = load_server_settings()
    with listening_socket(host, port) as sock:
        if workers > 1:
            # several processes: uvicorn's supervisor imports the factory in each; they share a folder
            # for their metrics, their readiness and the shutdown (service/workers.py)
            with shared_run_folder(workers) as folder:
                os.environ[SUPERVISOR_PID] = str(os.getpid())
                forget_inherited_markers()
                config = uvicorn.Config("service.server:worker_app", factory=True, workers=workers, **common)
                _log_listening(sock)
                DrainingSupervisor(config, [sock], folder, settings.shutdown_delay_s).run()
            return
        if MULTIPROC_DIR in os.environ:
            # prometheus_client writes its files there from the first metric on, one process too: a
            # folder not there yet was a traceback at start-up, where `--workers N` makes it
            made_folder(Path(os.environ[MULTIPROC_DIR]), MULTIPROC_DIR)
        app = create_app(settings)
        state = app.state.mva
        config = uvicorn.Config(app, **common)
        server = GracefulServer(config, state.shutting_down, state.settings.shutdown_delay_s)
        _log_listening(sock)
        server.run(sockets=[sock])


def _log_listening(sock: socket.socket) -> None:
    """What uvicorn logs once it has bound, which it leaves out when given the socket."""
    host, port = sock.getsockname()[:2]
    address = f"[{host}]" if sock.family == socket.AF_INET6 else host
    log.info("listening on http://%s:%d (Ctrl-C to quit)", address, port)
