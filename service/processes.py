"""Whether a worker process of `serve --workers N` still serves, for what the processes share in files
(service/workers.py: who is ready; service/api/metrics.py: whose queue depth counts), and a worker's
end when its supervisor is gone."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("mobile_vision_api")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def serving(pid: int) -> bool:
    """Process `pid` exists and is not a zombie: a worker killed but not yet reaped (uvicorn's supervisor
    reaps it at its next health check, which can take seconds) will never serve again."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    try:  # Linux: the state follows the command name, which may hold spaces and parentheses
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # no /proc (or the process just went): take the signal's word
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
