"""Whether a worker process of `serve --workers N` still serves, for what the processes share in files
(service/workers.py: who is ready; service/api/metrics.py: whose queue depth counts)."""

from __future__ import annotations

import os
from pathlib import Path


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
