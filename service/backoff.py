"""When `serve --workers N`'s supervisor may start a worker slot's process again after it exited
(service/server.py, DrainingSupervisor). uvicorn's supervisor restarted a dead process at its next check,
every 0.5 s: a process that dies while loading the app (a models manifest unreadable since start-up)
was started again and again for good, a core burnt on imports, the log full, and nothing saying so.
Times are time.monotonic() readings, passed in."""

from __future__ import annotations

from dataclasses import dataclass

# A process that exits sooner than this after its start is taken for one that cannot start: a process
# dies at app load within its imports and settings check, a few seconds on 2 busy cores. One that lived
# longer costs at most one start in this time anyway, and is replaced at once, as uvicorn does.
LIVED_LONG_ENOUGH_S = 10.0
FIRST_DELAY_S = 1.0  # after the first quick exit in a row; doubled after each further one
# the longest wait: a slot whose cause was fixed meanwhile (the manifest back) serves again within it
MAX_DELAY_S = 30.0


@dataclass
class SlotBackoff:
    """One worker slot's quick exits in a row, and when its next process may start."""

    quick_exits: int = 0
    restart_at: float = 0.0

    def lived_long_enough(self, started: float, now: float) -> bool:
        """Whether the slot's process, started at `started` and running at `now`, has outlived a quick
        exit; once it has, the slot's quick exits so far are forgotten."""
        if now - started < LIVED_LONG_ENOUGH_S:
            return False
        self.quick_exits = 0
        return True

    def exited(self, started: float, now: float) -> float:
        """The slot's process, started at `started`, was found gone at `now`: the delay before the next
        start (0: at once). Quick exits in a row double it up to MAX_DELAY_S; a process that lived
        LIVED_LONG_ENOUGH_S starts the count again."""
        if self.lived_long_enough(started, now):
            delay = 0.0
        else:
            self.quick_exits += 1
            # the exponent capped too: a slot failing for days would overflow the float
            delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** min(self.quick_exits - 1, 32))
        self.restart_at = now + delay
        return delay

    def due(self, now: float) -> bool:
        return now >= self.restart_at
