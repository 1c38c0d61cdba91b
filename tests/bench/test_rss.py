"""The RSS figures of a real CI-sized bench-goals run: sampled before and after every tenth of the
requests, none of which failed."""

from __future__ import annotations

import json
from pathlib import Path


def test_rss_is_sampled_at_every_step_and_no_request_failed(goals_out: Path) -> None:
    rss = json.loads((goals_out / "goals.json").read_text())["rss"]
    assert rss["failed"] == 0 and rss["requests"] == 40
    assert [n for n, _ in rss["rss_mb"]] == list(range(0, 41, 4))
    assert all(mb > 50 for _, mb in rss["rss_mb"])  # the runtimes and a model are loaded
    assert rss["max_mb"] == max(mb for _, mb in rss["rss_mb"])
    after_first_step = [mb for n, mb in rss["rss_mb"] if n >= 4]
    assert rss["growth_after_first_step_mb"] == round(after_first_step[-1] - after_first_step[0], 1)
