"""service/processes.py: a live process serves; one killed but not yet reaped (a zombie) does not, nor
one that is gone, nor one whose pid the kernel has given to a later process (its start time differs)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.localserver import code_env
from service.processes import ProcessIdentity, identity_of, own_identity, pid_namespace, serving


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _recorded(pid: int) -> ProcessIdentity:
    """`pid`'s identity as a worker records it in its files while it runs."""
    identity = identity_of(pid)
    assert identity is not None and identity.started is not None  # Linux: /proc has the start time
    return identity


def test_a_zombie_and_a_reaped_process_do_not_serve_a_live_one_does() -> None:
    child = _sleeper()
    try:
        recorded = _recorded(child.pid)
        assert serving(own_identity()) and serving(recorded)
        os.kill(child.pid, signal.SIGKILL)
        # not reaped yet: it exists (the signal check alone would say alive) in state Z
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
        assert not serving(recorded)
    finally:
        child.kill()
        child.wait()
    assert not serving(recorded) and identity_of(child.pid) is None


def test_a_process_given_a_dead_ones_pid_is_not_it() -> None:
    """A worker killed leaves files naming it; the kernel gives its pid to a later process (here this
    test's own, which runs: the pid-only check said the dead worker served). The worker's recorded
    start time is a real one, of a child that has exited: not this process's."""
    child = _sleeper()
    dead = _recorded(child.pid)
    child.kill()
    child.wait()
    own = own_identity()
    assert dead.started != own.started
    assert not serving(ProcessIdentity(own.pid, dead.started))
    assert serving(own)


def test_a_name_without_a_start_time_is_known_by_its_pid_alone() -> None:
    """Files written where there is no /proc (or before start times were recorded) name a pid only."""
    named = ProcessIdentity.from_name(str(os.getpid()))
    assert named == ProcessIdentity(os.getpid(), None) and serving(named)


def test_an_identity_is_read_back_from_its_name() -> None:
    own = own_identity()
    assert ProcessIdentity.from_name(own.name) == own and "_" not in own.name
    assert [ProcessIdentity.from_name(name) for name in ("", "12-", "-3", "12.db", "x12")] == [None] * 5


def test_a_name_is_made_once() -> None:
    """prometheus_client asks for own_identity's name on every metric update (under its global lock):
    made again each time, a request's twenty-odd updates paid for as many strings. The same string
    each time, naming the files as before; still frozen, equal and hashed by its fields alone."""
    own = own_identity()
    assert own.name is own_identity().name
    assert own.name == f"{os.getpid()}-{own.started}"
    assert ProcessIdentity.from_name(own.name) == own
    assert hash(own) == hash(ProcessIdentity(own.pid, own.started))
    with pytest.raises(dataclasses.FrozenInstanceError):
        own.pid = 1  # type: ignore[misc]


def test_processes_of_one_namespace_name_the_same_one() -> None:
    """Pids mean what they say within a pid namespace only: a run folder's supervisor is judged by
    them only when recorded in this one (service/workers.py)."""
    child = subprocess.run(
        [sys.executable, "-c", "from service.processes import pid_namespace; print(pid_namespace())"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | code_env(),
    )
    assert pid_namespace().startswith("pid:[") and child.stdout.strip() == pid_namespace()
