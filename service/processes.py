"""Whether a worker process of `serve --workers N` still serves, for what the processes share in files
(service/workers.py: who is ready; service/api/metrics.py: whose queue depth counts), and a worker's
end when its supervisor is gone.

A file names its process by pid and start time (ProcessIdentity), not by pid alone: the kernel hands a
dead worker's pid to a later process, and a killed worker's files, named by pid only, counted that
process as the worker (ready, its queue depth in the sum)."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mobile_vision_api")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Linux; without /proc (macOS) a process is known by its pid alone, which a later one may have been given
_PROC = Path("/proc/self/stat").exists()
_NAME = re.compile(r"(\d+)(?:-(\d+))?")
# /proc/<pid>/stat after the command name: state (field 3) first, starttime (field 22) at 19
_STARTTIME = 22 - 3


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as the shared files name it: its pid and its start time (/proc/<pid>/stat field 22,
    clock ticks since boot), which a later process given the same pid does not share. `started` is
    None where there is no /proc."""

    pid: int
    started: int | None

    @functools.cached_property  # in the instance's __dict__, which frozen leaves writable
    def name(self) -> str:
        """`<pid>-<started>` (`<pid>` without a start time): a file name's part, no `_` in it (the
        multiprocess merge of prometheus_client splits its file names at `_`). Made once: own_identity's
        is asked on every metric update (service/api/metrics.py)."""
        return str(self.pid) if self.started is None else f"{self.pid}-{self.started}"

    @classmethod
    def from_name(cls, name: str) -> ProcessIdentity | None:
        """The identity `name` gives, None for a name that is none."""
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        pid, started = match.groups()
        return cls(int(pid), None if started is None else int(started))


def identity_of(pid: int) -> ProcessIdentity | None:
    """Process `pid`'s identity now, None if there is no such process (on Linux)."""
    if not _PROC:
        return ProcessIdentity(pid, None)
    fields = _stat_after_name(pid)
    return None if fields is None else ProcessIdentity(pid, int(fields[_STARTTIME]))


@functools.cache
def _identity_of_own(pid: int) -> ProcessIdentity:
    return identity_of(pid) or ProcessIdentity(pid, None)  # it exists: never None


def own_identity() -> ProcessIdentity:
    """This process's identity: read once per pid (cheap enough for every metric update; a fork has
    another pid, so its own)."""
    return _identity_of_own(os.getpid())


def pid_namespace() -> str:
    """This process's pid namespace (`pid:[<inode>]`), in which its pids mean what they say: a container
    has its own, and a folder shared with another one names processes this one cannot see. "" where
    there is no /proc."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def serving(process: ProcessIdentity) -> bool:
    """`process` still exists and is not a zombie: a worker killed but not yet reaped (uvicorn's
    supervisor reaps it at its next health check, which can take seconds) will never serve again; nor
    does a later process that was given its pid."""
    if not _PROC:
        return _signal_reaches(process.pid)
    fields = _stat_after_name(process.pid)
    if fields is None:
        return False
    same = process.started is None or int(fields[_STARTTIME]) == process.started
    return same and fields[0] != "Z"


def _stat_after_name(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (which may hold spaces and parentheses: what
    follows its last `)`), None if there is no such process, or none this user may read (hidepid):
    not one of ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone, going while read, or another user's
        return None
    return stat.rpartition(")")[2].split()


def _signal_reaches(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def end_with_parent(parent: int) -> None:
    """This process gets SIGTERM (and drains, as on its supervisor's own) once `parent` is gone. A worker
    of a supervisor killed with SIGKILL or crashed kept serving on the port, ready, with nothing left to
    stop it or replace it, and a new `serve` could not bind there. Linux only (prctl's parent-death
    signal); one whose parent is already gone gets it at once."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("this worker will outlive its supervisor: prctl: %s", os.strerror(ctypes.get_errno()))
        return
    if os.getppid() != parent:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)
