"""service/backoff.py: how long a worker slot's next process waits after quick exits in a row, and the
bookkeeping that keeps each slot's count with its current process (the supervisor with real processes:
tests/test_workers.py)."""

from __future__ import annotations

import signal

from service.backoff import (
    FIRST_DELAY_S,
    MAX_DELAY_S,
    UNMARKED_START_S,
    SlotBackoff,
    SlotBackoffs,
    how_it_ended,
)
from service.processes import ProcessIdentity


def _quick_exits(slot: SlotBackoff, count: int, now: float = 1000.0) -> list[float]:
    """The delays after `count` processes in a row that each exited before they started."""
    delays = []
    for _ in range(count):
        delays.append(slot.exited(now=now))
        now = slot.restart_at
        slot.replaced(now, identity=None)
    return delays


def test_quick_exits_in_a_row_double_the_delay_up_to_the_cap() -> None:
    delays = _quick_exits(SlotBackoff(first_seen=0), 8)
    assert delays == [min(MAX_DELAY_S, FIRST_DELAY_S * 2**n) for n in range(8)]
    assert delays[:3] == [1, 2, 4] and delays[-1] == MAX_DELAY_S == 30


def test_a_slot_failing_for_good_stays_at_the_cap() -> None:
    slot = SlotBackoff(first_seen=0, quick_exits=10_000)
    assert slot.exited(now=1) == MAX_DELAY_S


def test_an_exit_before_the_mark_is_quick_however_late_it_comes() -> None:
    """A worker that dies at load after 20 s on busy cores, or is killed during a long warm-up, was
    taken for one that had started (it lived 10 s) and restarted at once, the count forgotten."""
    slot = SlotBackoff(first_seen=0)
    _quick_exits(slot, 2)
    late = slot.first_seen + UNMARKED_START_S / 2
    assert not slot.may_count_as_started(marked=False, now=late)
    assert slot.exited(now=late) == 4 * FIRST_DELAY_S and slot.quick_exits == 3


def test_a_process_that_marked_itself_started_starts_the_count_again() -> None:
    slot = SlotBackoff(first_seen=0)
    _quick_exits(slot, 4)
    now = slot.first_seen + 0.5
    assert slot.may_count_as_started(marked=True, now=now) and slot.quick_exits == 4  # the check is pure
    assert slot.note_started() == 4 and slot.quick_exits == 0
    # it is replaced at once when it dies, and the next quick exits count from one
    assert slot.exited(now=now + 1) == 0 and slot.due(now + 1)
    slot.replaced(now + 1, identity=None)
    assert _quick_exits(slot, 2, now=now + 1) == [FIRST_DELAY_S, 2 * FIRST_DELAY_S]


def test_a_process_that_never_marks_counts_as_started_after_the_fallback_age() -> None:
    slot = SlotBackoff(first_seen=100)
    assert not slot.may_count_as_started(marked=False, now=100 + UNMARKED_START_S - 1)
    assert slot.may_count_as_started(marked=False, now=100 + UNMARKED_START_S)


def test_the_next_start_is_due_once_the_delay_is_over() -> None:
    slot = SlotBackoff(first_seen=99)
    assert slot.due(0)  # a slot that never lost a process
    delay = slot.exited(now=100)
    assert not slot.due(100) and not slot.due(100 + delay / 2) and slot.due(100 + delay)


def test_the_backoff_follows_the_replacement_and_a_new_process_starts_fresh() -> None:
    """Kept by process, not by place in uvicorn's list: a SIGTTOU and a SIGTTIN handled in one go put a
    new process where the retired one was, and it inherited the retired one's quick exits."""
    identities = {"dying": ProcessIdentity(10, 1), "its replacement": ProcessIdentity(11, 2)}
    backoffs: SlotBackoffs[str] = SlotBackoffs(identify=identities.get)
    dying = backoffs.of("dying", now=0)
    assert dying.identity == ProcessIdentity(10, 1)
    # read once: a pid taken by a later process once this one is reaped does not become its identity
    identities["dying"] = ProcessIdentity(10, 3)
    assert backoffs.of("dying", now=1).identity == ProcessIdentity(10, 1)
    _quick_exits(dying, 3)
    dying.exited(now=50)
    assert dying.exit_counted and dying.quick_exits == 4
    backoffs.replaced("dying", "its replacement", now=60)
    identities["its replacement"] = ProcessIdentity(11, 9)  # read at the replacement, not later
    moved = backoffs.of("its replacement", now=61)
    assert moved is dying and moved.quick_exits == 4
    assert moved.first_seen == 60 and not moved.exit_counted and not moved.started
    assert moved.identity == ProcessIdentity(11, 2)
    # the retired one's place taken by a process SIGTTIN added: nothing inherited
    backoffs.keep_only(["its replacement"])
    assert len(backoffs) == 1
    added = backoffs.of("added by SIGTTIN", now=70)
    assert added.quick_exits == 0 and added.first_seen == 70 and added.identity is None  # gone already
    assert len(backoffs) == 2
    backoffs.keep_only(["added by SIGTTIN"])  # the other retired by SIGTTOU
    assert backoffs.of("its replacement", now=80).quick_exits == 0
    # a replacement of a process never seen is noted, its identity read then, not at its first check
    identities["unseen's replacement"] = ProcessIdentity(12, 4)
    backoffs.replaced("never seen", "unseen's replacement", now=90)
    identities["unseen's replacement"] = ProcessIdentity(12, 5)
    assert backoffs.of("unseen's replacement", now=91).identity == ProcessIdentity(12, 4)


def test_how_a_process_ended_names_the_signal() -> None:
    assert how_it_ended(1) == "exited (code 1)"
    assert how_it_ended(-signal.SIGKILL) == "was killed by SIGKILL"
    assert how_it_ended(-200) == "was killed by signal 200"
