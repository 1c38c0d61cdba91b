"""When `serve --workers N`'s supervisor may start a worker slot's process again after it exited
(service/server.py, DrainingSupervisor). uvicorn's supervisor restarted a dead process at its next check,
every 0.5 s: a process that dies while loading the app (a models manifest unreadable since start-up)
was started again and again for good, a core burnt on imports, the log full, and nothing saying so.
Times are time.monotonic() readings, passed in."""

from __future__ import annotations

import signal
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.processes import ProcessIdentity

# A process has started once it marked itself ready or failed in the run folder (service/workers.py);
# one that exits before is a quick exit, however long it took: a worker dying at load after 20 s on busy
# cores, or killed (OOM) during a long warm-up, is no better than one dying at once. A process that never
# marks (a ready folder it cannot write in: marking is best effort) is taken as started after this long,
# as long as SIGHUP's restart waits for a warm-up (RESTART_WAIT_S, service/server.py): a slot that takes
# that long a start restarts no more often than the backoff would let it anyway.
UNMARKED_START_S = 60.0
FIRST_DELAY_S = 1.0  # after the first quick exit in a row; doubled after each further one
# the longest wait: a slot whose cause was fixed meanwhile (the manifest back) serves again within it
MAX_DELAY_S = 30.0


@dataclass
class SlotBackoff:
    """One worker slot's quick exits in a row, when its next process may start, and what is known of
    its current process: when the supervisor first saw it, its identity, whether it has started, whether
    its exit was counted."""

    first_seen: float
    identity: ProcessIdentity | None = None  # read once, when first seen (None: gone): its marks' name
    quick_exits: int = 0
    restart_at: float = 0.0
    started: bool = False
    exit_counted: bool = False

    def may_count_as_started(self, marked: bool, now: float) -> bool:
        """Whether the slot's current process has started: marked ready or failed, or, never marked,
        running for UNMARKED_START_S. Pure: note_started() records it."""
        return marked or now - self.first_seen >= UNMARKED_START_S

    def note_started(self) -> int:
        """The slot's current process started: its quick exits so far, now forgotten."""
        before, self.quick_exits, self.started = self.quick_exits, 0, True
        return before

    def exited(self, now: float) -> float:
        """The slot's current process was found gone at `now`: the delay before the next start (0: at
        once). Quick exits in a row double it up to MAX_DELAY_S; one that had started is replaced at once."""
        self.exit_counted = True
        if self.started:
            delay = 0.0
        else:
            self.quick_exits += 1
            # the exponent capped too: a slot failing for days would overflow the float
            delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** min(self.quick_exits - 1, 32))
        self.restart_at = now + delay
        return delay

    def due(self, now: float) -> bool:
        return now >= self.restart_at

    def replaced(self, now: float, identity: ProcessIdentity | None) -> None:
        """A new process took the slot (seen first at `now`): the count and the wait go on, the rest
        is the new process's."""
        self.first_seen, self.identity, self.started, self.exit_counted = now, identity, False, False


P = TypeVar("P", bound=Hashable)


@dataclass
class SlotBackoffs(Generic[P]):
    """Each worker slot's SlotBackoff, by the slot's current process (not by its place in uvicorn's list:
    a SIGTTOU and a SIGTTIN handled in one go put a new process at the place of one retired, which would
    inherit its quick exits). A process not seen before gets a fresh one, its identity read then."""

    identify: Callable[[P], ProcessIdentity | None]
    _slots: dict[P, SlotBackoff] = field(default_factory=dict)

    def of(self, process: P, now: float) -> SlotBackoff:
        slot = self._slots.get(process)
        if slot is None:
            slot = self._slots[process] = SlotBackoff(first_seen=now, identity=self.identify(process))
        return slot

    def replaced(self, old: P, new: P, now: float) -> None:
        """The supervisor started `new` in place of `old` (dead): the slot's backoff goes over to it."""
        slot = self._slots.pop(old, None)
        if slot is None:  # not seen (cannot happen: a process is seen before it is checked); `new` is
            self.of(new, now)  # noted now all the same, while its identity can still be read
            return
        slot.replaced(now, self.identify(new))
        self._slots[new] = slot

    def keep_only(self, processes: Iterable[P]) -> None:
        """Forgets the processes no longer there (retired by SIGTTOU, replaced by SIGHUP's restart)."""
        there = set(processes)
        self._slots = {process: slot for process, slot in self._slots.items() if process in there}

    def __len__(self) -> int:
        return len(self._slots)


def how_it_ended(exitcode: int) -> str:
    """`exited (code 1)`, or for a process a signal ended (multiprocessing's negative exit code) `was
    killed by SIGKILL`."""
    if exitcode >= 0:
        return f"exited (code {exitcode})"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"was killed by signal {-exitcode}"
