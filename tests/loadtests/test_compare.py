"""loadtests/compare.py's schedule: every service once a round, none always first."""

from __future__ import annotations

from loadtests.compare import schedule


def test_every_service_runs_once_a_round_and_the_order_shifts() -> None:
    order = schedule(["ours", "naive", "bentoml"], 3)
    assert order == [
        (1, "ours"), (1, "naive"), (1, "bentoml"),
        (2, "naive"), (2, "bentoml"), (2, "ours"),
        (3, "bentoml"), (3, "ours"), (3, "naive"),
    ]  # fmt: skip
    assert schedule(["ours"], 2) == [(1, "ours"), (2, "ours")]
    assert schedule([], 2) == []
