"""service/turns.py: over as many turns as there are configurations, each goes first once, and
within a turn the configurations keep their cyclic order."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

from service.turns import in_turns, rotated


def test_each_goes_first_once_and_the_cycle_is_kept() -> None:
    names = ["a", "b", "c", "d"]
    orders = [rotated(names, turn) for turn in range(len(names))]
    assert [order[0] for order in orders] == names
    for order in orders:
        assert sorted(order) == names
        # the cycle a -> b -> c -> d -> a is kept
        assert all(names.index(y) == (names.index(x) + 1) % 4 for x, y in pairwise(order))
    assert rotated(names, 5) == rotated(names, 1)
    assert rotated([], 3) == []


def test_calls_in_turns_go_first_in_turn_and_keep_their_results_apart() -> None:
    """bench-goals' engine figures (int8 weights, batching) timed their configurations in one fixed order:
    in_turns, which they use now, rotates it each turn as the other measures do."""
    order: list[str] = []

    def call(name: str) -> str:
        order.append(name)
        return f"{name}{len(order)}"

    results = in_turns({name: partial(call, name) for name in ("a", "b", "c")}, rounds=3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert results == {"a": ["a1", "a6", "a8"], "b": ["b2", "b4", "b9"], "c": ["c3", "c5", "c7"]}


def test_calls_in_turns_may_run_several_times_a_turn() -> None:
    """The HTTP overhead blocks and bench-ab's 1-client turns run a request `per_turn` times in a row."""
    order: list[str] = []

    def call(name: str) -> int:
        order.append(name)
        return len(order)

    results = in_turns({name: partial(call, name) for name in ("a", "b")}, rounds=2, per_turn=2)
    assert order == ["a", "a", "b", "b", "b", "b", "a", "a"]
    assert results == {"a": [1, 2, 7, 8], "b": [3, 4, 5, 6]}
