"""The Results blocks that the CI-sized runs do not produce (compare, bench-browser), from documents
shaped as those commands write them."""

from __future__ import annotations

from service.bench.results_md import (
    browser_block,
    browser_visitor_block,
    compare_block,
    compare_ratios,
)
from tests.bench.browser_report import BROWSER_MD


def _row(round_: int, service: str, served_rps: float, p50: float, p99: float) -> dict:
    return {"round": round_, "service": service, "rps": served_rps, "served_rps": served_rps} | {
        "p50_ms": p50,
        "p99_ms": p99,
    }


def test_compare_block_gives_the_range_over_rounds() -> None:
    compare = {
        "finished": "2026-11-25T22:48:22Z",
        "results": [
            _row(1, "ours", 200.0, 30, 50),
            _row(1, "naive", 100.0, 60, 200),
            _row(1, "bentoml", 80.0, 90, 190),
            _row(2, "ours", 210.0, 33, 50),
            _row(2, "naive", 84.0, 66, 250),
            _row(2, "bentoml", 84.0, 99, 200),
        ],
    }
    table = "| round | service | requests |\n|---:|---|---:|\n| 1 | ours | 6000 |"
    text = compare_block(f"intro\n\n{table}\n\nafter", compare)
    assert text.startswith(table + "\n\n")
    assert "**2.00-2.50x** the naive service's throughput and **2.50x** BentoML's" in text
    assert "its p50 was 0.50x the naive one's and its p99 0.20-0.25x" in text


def test_compare_ratios_count_right_answers_only_and_skip_services_not_run() -> None:
    """locust's req/s (rps) counts failed requests too: a service answering half its requests with fast
    errors served half that (served_rps). A baseline that did not run (BentoML without its venv) is left
    out, not a crash."""
    ours = _row(1, "ours", 100.0, 30, 50) | {"rps": 200.0, "requests": 6000, "failures": 3000}
    naive = _row(1, "naive", 50.0, 60, 200) | {"requests": 1500, "failures": 0}
    missing = {"round": 1, "service": "bentoml", "missing": "its venv is missing"}
    assert compare_ratios({"results": [ours, naive, missing]}) == {"naive": (2.0, 2.0)}


def test_browser_report_splits_into_the_report_and_the_new_visitor() -> None:
    machine = {"started_utc": "2026-11-26T01:33:50+00:00", "load_average": [0.7, 1.0, 1.1], "cores": 2}
    report = browser_block(BROWSER_MD, {"machine": machine})
    assert report.startswith("Run: `bench-browser` started 2026-11-26T01:33:50+00:00, load average 0.7")
    assert "| m | 120.0 → 40.0 → 25.0 | 5.4 / 3.8 |" in report and "measured m 3.0x" in report
    assert report.endswith("Assumptions: one request uses one core.")
    assert "| m | loopback |" not in report
    visitor = browser_visitor_block(BROWSER_MD).splitlines()
    assert visitor[2] == "| m | loopback | brotli / gzip copies | 4.8 | 1.8 s |"
    assert not browser_block(BROWSER_MD, {}).startswith("Run:")  # reports written before it had a machine
