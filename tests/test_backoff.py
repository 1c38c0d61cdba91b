"""service/backoff.py: how long a worker slot's next process waits after quick exits in a row (the
supervisor with real processes: tests/test_workers.py)."""

from __future__ import annotations

from service.backoff import FIRST_DELAY_S, LIVED_LONG_ENOUGH_S, MAX_DELAY_S, SlotBackoff


def _quick_exits(slot: SlotBackoff, count: int, now: float = 1000.0) -> list[float]:
    """The delays after `count` processes in a row that each exited a second after their start."""
    delays = []
    for _ in range(count):
        delays.append(slot.exited(started=now - 1, now=now))
        now = slot.restart_at
    return delays


def test_quick_exits_in_a_row_double_the_delay_up_to_the_cap() -> None:
    delays = _quick_exits(SlotBackoff(), 8)
    assert delays == [min(MAX_DELAY_S, FIRST_DELAY_S * 2**n) for n in range(8)]
    assert delays[:3] == [1, 2, 4] and delays[-1] == MAX_DELAY_S == 30


def test_a_slot_failing_for_good_stays_at_the_cap() -> None:
    slot = SlotBackoff(quick_exits=10_000)
    assert slot.exited(started=0, now=1) == MAX_DELAY_S


def test_a_process_that_lived_long_enough_is_replaced_at_once_and_starts_the_count_again() -> None:
    slot = SlotBackoff()
    _quick_exits(slot, 4)
    assert slot.exited(started=0, now=LIVED_LONG_ENOUGH_S) == 0 and slot.quick_exits == 0
    assert slot.due(LIVED_LONG_ENOUGH_S)
    assert _quick_exits(slot, 2) == [FIRST_DELAY_S, 2 * FIRST_DELAY_S]


def test_the_next_start_is_due_once_the_delay_is_over() -> None:
    slot = SlotBackoff()
    assert slot.due(0)  # a slot that never lost a process
    delay = slot.exited(started=99, now=100)
    assert not slot.due(100) and not slot.due(100 + delay / 2) and slot.due(100 + delay)


def test_a_process_still_running_after_the_quick_exit_time_starts_the_count_again() -> None:
    """uvicorn's own check replaces a process that died during its health check (a ping it waits on) at
    once: the slot's count is forgotten as soon as a process of it has lived long enough, not only when
    one is found dead."""
    slot = SlotBackoff()
    _quick_exits(slot, 3)
    assert not slot.lived_long_enough(started=0, now=LIVED_LONG_ENOUGH_S / 2) and slot.quick_exits == 3
    assert slot.lived_long_enough(started=0, now=LIVED_LONG_ENOUGH_S) and slot.quick_exits == 0
    assert _quick_exits(slot, 1) == [FIRST_DELAY_S]
