"""What several worker processes (`serve --workers N`) share: a folder for the run, made by `serve`
before uvicorn starts them, holding prometheus_client's multiprocess files (service/api/metrics.py),
one file per warmed-up process (named by its ProcessIdentity: service/processes.py) and, once the
supervisor got SIGTERM, a `draining` file, so that /readyz answers for the whole server, not only for
the process the probe happened to reach; and preset=auto's measurements, made once for all of them
(service/shared_auto.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from service.api.metrics import MULTIPROC_DIR
from service.processes import ProcessIdentity, own_identity, pid_namespace, serving
from service.settings import InvalidServerSettings
from service.shared_auto import AUTO_DIR, RECORD_SUFFIX

log = logging.getLogger("mobile_vision_api")

RUN_DIR = "MVA_RUN_DIR"  # the folder (set by `serve`)
RUN_FOLDER_PREFIX = "mva-run-"  # of a folder `serve` makes in the temporary folder when none is named
# in a folder `serve` made: its supervisor's ProcessIdentity and pid namespace, a line each, so that a
# later `serve` knows the folder of one killed with SIGKILL (nothing left to remove it) from a live one's
SUPERVISOR = "supervisor"
WORKER_PROCESSES = "MVA_WORKER_PROCESSES"  # how many processes share it
# set by the supervisor once its first processes have started: a process started later (SIGHUP's rolling
# restart, SIGTTIN, one in place of a worker that died) starts beside others that serve
JOINS_SERVING = "MVA_JOINS_SERVING"
# set by the supervisor for the processes SIGHUP's rolling restart starts, and only those: one whose warm-up
# fails ends its startup, so uvicorn keeps the old process it was to replace and gives the restart up
# (service/api/app.py). One in place of a worker that died, or one SIGTTIN adds, starts not ready instead:
# a failed startup (uvicorn's exit code 3) would stop uvicorn's supervisor, and every process with it
SIGHUP_RESTART = "MVA_SIGHUP_RESTART"
FAILED_SUFFIX = ".failed"  # in the ready folder, beside the ready files: a process whose warm-up failed
DRAINING = "draining"  # in the run folder: the supervisor got SIGTERM (service/server.py)
# in the run folder: how many processes the supervisor keeps, WORKER_PROCESSES at start, then as SIGTTIN or
# SIGTTOU (uvicorn's signals to add a process or retire one) change it
WORKER_COUNT = "workers"


def drain_marker(run_dir: Path) -> Path:
    return run_dir / DRAINING


def record_worker_count(run_dir: Path, count: int) -> None:
    """Written whole: a process reading it meanwhile (/readyz) never meets an empty file."""
    partial = run_dir / f"{WORKER_COUNT}.{os.getpid()}.tmp"
    partial.write_text(str(count))
    partial.replace(run_dir / WORKER_COUNT)


@contextlib.contextmanager
def shared_run_folder(workers: int) -> Iterator[Path]:
    """The run's folder in the environment the worker processes inherit; removed afterwards unless the
    caller named it (MVA_RUN_DIR). Metrics go to its `metrics/` unless PROMETHEUS_MULTIPROC_DIR is set.
    Stale folders of servers killed before they could remove theirs are removed first."""
    given = os.environ.get(RUN_DIR)
    remove_stale_run_folders(keep=Path(given) if given else None)
    folder = Path(given) if given else _temporary_folder()
    ready = made_folder(folder / "ready", RUN_DIR)
    auto = made_folder(folder / AUTO_DIR, RUN_DIR)
    metrics = made_folder(Path(os.environ.setdefault(MULTIPROC_DIR, str(folder / "metrics"))), MULTIPROC_DIR)
    # a named folder may hold the last run's drain marker, ready files, preset=auto choices (measured
    # with that run's settings, maybe on another host) and metrics files (whose counts /metrics would
    # add to this run's); a folder given as PROMETHEUS_MULTIPROC_DIR is the caller's
    ours = metrics.glob("*.db") if metrics == folder / "metrics" else ()
    # a named folder is never swept as stale: it is the caller's, even one a `serve` once made
    last_run = (drain_marker(folder), folder / SUPERVISOR, *ready.glob("[0-9]*"))
    try:
        for stale in (*last_run, *auto.glob(f"*{RECORD_SUFFIX}"), *ours):
            stale.unlink(missing_ok=True)
        record_worker_count(folder, workers)  # over the last run's, before any process reads it
        if not given:
            (folder / SUPERVISOR).write_text(f"{own_identity().name}\n{pid_namespace()}")
    except OSError as exc:  # a named folder it may list but not write in: the variable's fault, as in
        # made_folder; one made in the temporary folder (a full disk): unset, the variable names none
        where = RUN_DIR if given else f"{RUN_DIR} unset, and the run folder made in {tempfile.gettempdir()}"
        raise InvalidServerSettings(
            [f"{where}: cannot write in {str(folder)!r}: {exc.strerror or exc}"]
        ) from None
    os.environ[RUN_DIR] = str(folder)
    os.environ[WORKER_PROCESSES] = str(workers)
    try:
        yield folder
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


def remove_stale_run_folders(keep: Path | None) -> None:
    """Removes the run folders `serve` made in the temporary folder for servers that are gone: a
    supervisor killed with SIGKILL (or a crash, a power cut) left its folder behind, one every run.
    Only those provably stale: this user's own, whose recorded supervisor and ready workers no longer
    run; not `keep` (MVA_RUN_DIR), nor a folder without a readable record (being made, or another
    version's)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUN_FOLDER_PREFIX}*"):
        try:
            if _stale(folder, keep):
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # gone meanwhile, or one it may not read: not provably stale
            continue


def _stale(folder: Path, keep: Path | None) -> bool:
    found = folder.lstat()  # a symlink is nobody's run folder
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        return False
    if keep is not None and keep.exists() and folder.samefile(keep):
        return False
    name, _, namespace = (folder / SUPERVISOR).read_text().partition("\n")
    supervisor = ProcessIdentity.from_name(name)
    if supervisor is None or namespace != pid_namespace():  # of another container: its pids are not ours
        return False
    if serving(supervisor):  # a live server's folder: nothing more to read
        return False
    # gone (its pid no one's, or another process's), and so are its workers: after a SIGKILL to the
    # supervisor alone they serve on for a while (their drain on PDEATHSIG, uvicorn's shutdown), and
    # need the folder (readiness, metrics files) until they stop. No ready folder (a /tmp cleaner took
    # it): no worker marked ready
    ready = Siblings(folder / "ready")
    try:  # and those whose warm-up failed, which serve on not ready
        workers = [*ready.marked_ready(), *ready.marked_failed()]
    except FileNotFoundError:
        workers = []
    return not any(serving(worker) for worker in workers)


def _temporary_folder() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=RUN_FOLDER_PREFIX))
    except OSError as exc:  # a read-only root filesystem without a tmpfs on /tmp
        where = tempfile.gettempdir()
        raise InvalidServerSettings(
            [f"{RUN_DIR}: unset, and no run folder can be made in {where}: {exc.strerror or exc}"]
        ) from None


def made_folder(folder: Path, variable: str) -> Path:
    """`folder`, made if need be; one it cannot make is the variable's fault (`serve` prints a line
    and exits 2, as for the other MVA_* values), not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidServerSettings(
            [f"{variable}: cannot make {str(folder)!r}: {exc.strerror or exc}"]
        ) from None
    return folder


@dataclass(frozen=True)
class Siblings:
    """This process's view of the others: who has warmed up, out of how many the supervisor keeps."""

    ready_dir: Path
    # others served when this process started: it warms up before it accepts a connection (service/api/app.py)
    joins_serving: bool = False
    # started by SIGHUP's rolling restart to replace a process that serves: a failed warm-up ends it
    replaces_on_sighup: bool = False

    @classmethod
    def from_environment(cls) -> Siblings | None:
        folder, count = os.environ.get(RUN_DIR), os.environ.get(WORKER_PROCESSES)
        if not folder or not count or int(count) < 2:
            return None
        return cls(
            Path(folder) / "ready",
            joins_serving=os.environ.get(JOINS_SERVING) == "1",
            replaces_on_sighup=os.environ.get(SIGHUP_RESTART) == "1",
        )

    @property
    def auto_dir(self) -> Path:
        """Where preset=auto's measurements are shared (service/shared_auto.py)."""
        return self.ready_dir.parent / AUTO_DIR

    def draining(self) -> bool:
        """Whether the supervisor is shutting the server down (every process then reports not ready)."""
        return drain_marker(self.ready_dir.parent).exists()

    def mark_ready(self) -> None:
        self._mark(own_identity().name)

    def mark_failed(self) -> None:
        """This process's warm-up failed: it serves not ready for good, which the others' /readyz says
        rather than "still warming up"."""
        self._mark(f"{own_identity().name}{FAILED_SUFFIX}")

    def _mark(self, name: str) -> None:
        # only the others' /readyz reads it: a ready folder a /tmp cleaner took raised out of the
        # warm-up, and in a process started beside others that serve, failed its startup, which stops
        # uvicorn's supervisor and every process with it
        try:
            (self.ready_dir / name).touch()
        except OSError as exc:
            log.warning(
                "cannot mark this process in %s; the others' /readyz will wait for it: %s",
                self.ready_dir,
                exc,
            )

    def has_marked(self, process: ProcessIdentity) -> bool:
        """Whether `process` marked itself ready or failed (the supervisor's view of a worker that has
        started: service/backoff.py). A process takes its marks away as it stops: a clean exit leaves none.
        Best effort: a ready folder that cannot be searched (EACCES, which Path.exists raises) reads as
        no mark rather than ending the supervisor's loop."""
        markers = (process.name, f"{process.name}{FAILED_SUFFIX}")
        try:
            return any((self.ready_dir / marker).exists() for marker in markers)
        except OSError:
            return False

    def mark_gone(self) -> None:
        name = own_identity().name
        for marker in (name, f"{name}{FAILED_SUFFIX}"):
            (self.ready_dir / marker).unlink(missing_ok=True)

    def marked_failed(self) -> list[ProcessIdentity]:
        """The processes whose warm-up failed, gone ones too."""
        named = (
            ProcessIdentity.from_name(entry.name.removesuffix(FAILED_SUFFIX))
            for entry in self.ready_dir.glob(f"*{FAILED_SUFFIX}")
        )
        return [process for process in named if process is not None]

    def failed_now(self) -> int:
        """How many serving processes failed their warm-up."""
        return sum(1 for process in self.marked_failed() if serving(process))

    def marked_ready(self) -> list[ProcessIdentity]:
        """The processes whose ready files are there, gone ones too."""
        named = (ProcessIdentity.from_name(entry.name) for entry in self.ready_dir.iterdir())
        return [process for process in named if process is not None]

    def expected_now(self) -> int:
        """How many processes the supervisor keeps now: SIGTTOU retired one, and those left waited for
        it to warm up for good (/readyz said not ready until a restart); SIGTTIN added one, which
        /readyz did not wait for. The run folder has it from the start (shared_run_folder)."""
        return int((self.ready_dir.parent / WORKER_COUNT).read_text())

    def waiting_for(self) -> tuple[int, int]:
        """How many processes have yet to warm up, of how many, the count read once (a SIGTTIN between
        two reads named another count than the one decided on). A file whose process is gone (killed
        before it could take its file away; uvicorn starts a new one) does not count, nor once its pid
        is another's."""
        ready = sum(1 for process in self.marked_ready() if serving(process))
        expected = self.expected_now()
        return max(0, expected - ready), expected
