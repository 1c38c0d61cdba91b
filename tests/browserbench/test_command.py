"""What `bench-browser` writes at the end of its run (the run itself: tests/browser)."""

from __future__ import annotations

import json
from pathlib import Path

from service.browserbench.browser_json import BROWSER_SCHEMA
from service.browserbench.command import save_report
from tests.conftest import PREVIOUS_REPORT, hold_previous


def test_the_report_replaces_the_previous_one_whole(tmp_path: Path) -> None:
    """browser.json and browser.md are written aside and renamed into place, never rewritten where
    bench-readme reads them (a crash mid-write left them torn, or a new .json beside an old .md)."""
    held = [hold_previous(tmp_path / name) for name in ("browser.json", "browser.md")]
    save_report(tmp_path, {"summaries": []}, "| model | link |")
    assert json.loads((tmp_path / "browser.json").read_text()) == {"schema": BROWSER_SCHEMA, "summaries": []}
    assert (tmp_path / "browser.md").read_text() == "| model | link |\n"
    assert all(path.read_text() == PREVIOUS_REPORT for path in held)
