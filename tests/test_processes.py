"""service/processes.py: a live process serves; one killed but not yet reaped (a zombie) does not, nor
one that is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.processes import serving


def test_a_zombie_and_a_reaped_process_do_not_serve_a_live_one_does() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert serving(os.getpid()) and serving(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        # not reaped yet: it exists (the signal check alone would say alive) in state Z
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
        assert not serving(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not serving(child.pid)
