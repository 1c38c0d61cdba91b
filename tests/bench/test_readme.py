"""`mobile-vision-api bench-readme`: the README's Results blocks rewritten from real (CI-sized) runs of
bench and bench-goals; nothing outside the markers changes."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from service.bench.bench_json import BENCH_SCHEMA
from service.bench.readme import MissingMarker, replace_block
from service.browserbench.browser_json import BROWSER_SCHEMA
from service.browserbench.command import save_report
from service.cli import app
from service.settings import PROJECT_ROOT
from tests.bench.browser_report import BROWSER_MD
from tests.conftest import PREVIOUS_REPORT, hold_previous

MARKED = re.compile(r"^([ \t]*)<!-- results:([\w-]+) -->\n.*?^[ \t]*<!-- /results:\2 -->$", re.S | re.M)


def _outside_markers(text: str) -> str:
    return MARKED.sub(lambda m: f"{m.group(1)}[{m.group(2)}]", text)


def test_a_block_is_replaced_between_its_markers_with_their_indentation() -> None:
    text = "intro\n  <!-- results:table -->\n  | old |\n  <!-- /results:table -->\noutro\n"
    once = replace_block(text, "table", "| a |\n|---|\n\n| b |\n")
    assert once == (
        "intro\n  <!-- results:table -->\n  | a |\n  |---|\n\n  | b |\n  <!-- /results:table -->\noutro\n"
    )
    assert replace_block(once, "table", "| a |\n|---|\n\n| b |\n") == once
    with pytest.raises(MissingMarker):
        replace_block(text, "other", "x")


@pytest.fixture
def lab(tmp_path: Path, bench_out: Path, goals_out: Path) -> Path:
    """What a person has after `make bench` and `make bench-goals` (CI-sized), in one folder."""
    folder = tmp_path / "bench"
    shutil.copytree(bench_out, folder)
    shutil.copy(goals_out / "goals.json", folder)
    return folder


def test_the_readme_blocks_come_from_the_runs_and_the_prose_stays(lab: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    before = readme.read_text()
    # what a reader that opened them before holds (hold_previous): the README and the chart were
    # rewritten in place (a crash mid-write left them cut short); they are written aside and renamed
    held_readme = readme.with_name("README.md.held")
    os.link(readme, held_readme)
    held_chart = hold_previous(tmp_path / "docs" / "bench.png")
    args = ["bench-readme", "--bench-dir", str(lab), "--compare-dir", str(tmp_path / "no-compare")]
    args += ["--browser-dir", str(tmp_path / "no-browser")]
    args += ["--readme", str(readme), "--docs", str(tmp_path / "docs")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # no batching or compare runs here: those blocks keep what they had, and the command says so
    for name in ("batching-engine", "batching-server", "compare", "browser", "browser-visitor"):
        assert f"{name}: its artifacts are missing" in result.output
    after = readme.read_text()
    assert _outside_markers(after) == _outside_markers(before)
    goals = json.loads((lab / "goals.json").read_text())
    bench = json.loads((lab / "bench.json").read_text())
    overhead = goals["http_overhead"]
    assert f"`make bench-goals` {goals['machine']['started_utc']}" in after
    assert f"`make bench` started {bench['machine']['started_utc']}" in after
    verdict = "met" if overhead["overhead_ms"] <= 1.0 else "**missed**"
    assert f"**+{overhead['overhead_ms']:.2f} ms** (lean client" in after
    assert re.search(rf"\+{overhead['floor_overhead_ms']:.2f} ms \| {re.escape(verdict)} \|", after)
    first_cell = (lab / "bench.md").read_text().split("| model | engine")[1].splitlines()[2]
    assert first_cell in after
    default = goals["loads"]["1 worker x 1 thread (default)"]
    assert f"| server: 1 worker x 1 thread (default) | {default['rps']:.0f} |" in after
    png = next(r for r in goals["decode_by_format"]["rows"] if (r["size"], r["format"]) == ("1080p", "PNG"))
    assert f"| 1080p PNG | {png['bytes'] / 1e6:.2f} MB | 1920x1080 | {png['decode_p50_ms']:.2f} |" in after
    weights = goals["int8_weights"]
    assert f"`int8.onnx`: {weights['p50_ms']['int8.onnx']:.2f} ms |" in after
    if not weights["vnni"]:
        assert "| not run: this CPU has no VNNI, the server runs `int8.onnx` |" in after
    # bench-goals ran in a folder of its own here, so preset=auto had no bench.json to be compared with
    assert "| within 1.1x | not compared: bench-goals found no bench.json beside it" in after
    assert (tmp_path / "docs" / "bench.png").read_bytes() == (lab / "bench.png").read_bytes()
    assert held_readme.read_text() == before and held_chart.read_text() == PREVIOUS_REPORT
    assert sorted(p.name for p in tmp_path.glob(".writing-*")) == []  # nothing left aside
    # a second run changes nothing
    CliRunner().invoke(app, args)
    assert readme.read_text() == after


def _run_block(text: str) -> str:
    match = re.search(r"<!-- results:run -->.*?<!-- /results:run -->", text, re.S)
    assert match is not None
    return match.group(0)


def _bench_readme(lab: Path, tmp_path: Path, readme: Path) -> Result:
    args = ["bench-readme", "--bench-dir", str(lab), "--compare-dir", str(tmp_path / "no-compare")]
    args += ["--browser-dir", str(tmp_path / "no-browser"), "--readme", str(readme), "--docs", str(tmp_path)]
    return CliRunner().invoke(app, args)


def test_a_bench_json_without_its_bench_md_leaves_the_run_block_and_says_so(
    lab: Path, tmp_path: Path
) -> None:
    (lab / "bench.md").unlink()
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    result = _bench_readme(lab, tmp_path, readme)
    assert result.exit_code == 0, result.output
    assert f"run: its artifacts are missing ({lab / 'bench.md'});" in " ".join(result.output.split())
    assert _run_block(readme.read_text()) == _run_block((PROJECT_ROOT / "README.md").read_text())


def test_with_bench_s_artifacts_alone_the_missing_goals_json_is_named(
    bench_out: Path, tmp_path: Path
) -> None:
    """The run block needs goals.json too: with bench.json and bench.md there, bench-readme said "run:
    its artifacts are missing" and left one looking for what was wrong with them."""
    lab = tmp_path / "bench"
    shutil.copytree(bench_out, lab)
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    result = _bench_readme(lab, tmp_path, readme)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"run: its artifacts are missing ({lab / 'goals.json'}); the block is left as it was" in said
    assert f"grid: its artifacts are missing ({lab / 'goals.json'});" in said
    # no block has all it needs: said plainly, the README untouched (not "rewritten except" every block)
    assert f"{readme}: no Results block rewritten, every block's artifacts are missing" in said
    assert "rewritten except" not in said
    assert readme.read_text() == (PROJECT_ROOT / "README.md").read_text()


def test_artifacts_from_an_older_version_are_refused_by_name_and_the_readme_is_left(
    lab: Path, tmp_path: Path
) -> None:
    bench = json.loads((lab / "bench.json").read_text())
    del bench["machine"]["packages"]  # as if written before the bench recorded package versions
    (lab / "bench.json").write_text(json.dumps(bench))
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    result = _bench_readme(lab, tmp_path, readme)
    assert result.exit_code == 1
    assert "run: its artifacts lack what it needs (KeyError: 'packages')" in result.output
    assert readme.read_text() == (PROJECT_ROOT / "README.md").read_text()


def test_a_bench_json_of_another_schema_is_refused_and_the_readme_is_left(lab: Path, tmp_path: Path) -> None:
    """Written before bench.json had a schema (its rows had no error field): bench-readme names it."""
    bench = json.loads((lab / "bench.json").read_text())
    assert bench.pop("schema") == BENCH_SCHEMA
    (lab / "bench.json").write_text(json.dumps(bench))
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    result = _bench_readme(lab, tmp_path, readme)
    assert result.exit_code == 1
    assert f"run: {lab / 'bench.json'} has no schema (written before it had one)" in " ".join(
        result.output.split()
    )
    assert readme.read_text() == (PROJECT_ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("name", "cut_short", "block"),
    [
        ("bench.json", f'{{"schema": {BENCH_SCHEMA}, "results": [{{"model": "mobil', "run: "),
        ("goals.json", '{"machine": {"cpu": "x', ""),
    ],
)
def test_an_artifact_cut_short_is_refused_in_one_line_and_the_readme_is_left(
    tmp_path: Path, name: str, cut_short: str, block: str
) -> None:
    """A truncated bench.json or goals.json was a JSONDecodeError traceback: now exit 1 naming the file,
    as for a bench.json of another schema. --help says it too."""
    lab = tmp_path / "bench"
    lab.mkdir()
    (lab / name).write_text(cut_short)
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    result = _bench_readme(lab, tmp_path, readme)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{block}{lab / name} is not JSON (" in " ".join(result.output.split())
    assert readme.read_text() == (PROJECT_ROOT / "README.md").read_text()
    help_text = " ".join(CliRunner().invoke(app, ["bench-readme", "--help"]).output.split())
    assert "or not JSON (e.g. cut short)" in help_text


def test_a_browser_json_of_another_schema_is_refused_and_the_readme_is_left(tmp_path: Path) -> None:
    """A bench-browser report from before browser.json had a schema (its round-trip "p99" of a few runs
    was their maximum) went into the README like a current one; now bench-readme names it. A report
    as bench-browser writes it now goes in."""
    browser = tmp_path / "browser"
    save_report(browser, {"machine": None}, BROWSER_MD)
    readme = tmp_path / "README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    args = ["bench-readme", "--bench-dir", str(tmp_path / "no-bench"), "--compare-dir", str(tmp_path)]
    args += ["--browser-dir", str(browser), "--readme", str(readme), "--docs", str(tmp_path / "docs")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| m | 120.0 → 40.0 → 25.0 | 5.4 / 3.8 |" in readme.read_text()

    document = json.loads((browser / "browser.json").read_text())
    assert document.pop("schema") == BROWSER_SCHEMA
    for written, said in [({}, "has no schema (written before it had one)"), ({"schema": 0}, "has schema 0")]:
        (browser / "browser.json").write_text(json.dumps(document | written))
        shutil.copy(PROJECT_ROOT / "README.md", readme)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        output = " ".join(result.output.split())
        assert f"browser: {browser / 'browser.json'} {said}; this version reads schema" in output
        assert "rerun `mobile-vision-api bench-browser`" in output
        assert readme.read_text() == (PROJECT_ROOT / "README.md").read_text()
