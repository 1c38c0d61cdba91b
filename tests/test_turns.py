"""service/turns.py: over as many turns as there are configurations, each goes first once, and
within a turn the configurations keep their cyclic order."""

from __future__ import annotations

from itertools import pairwise

from service.turns import rotated


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
