"""`mobile-vision-api bench-readme` (`make results`): rewrite the README's generated Results blocks from
the latency lab's artifacts, and copy the bench chart to docs/. A block is the text between
`<!-- results:NAME -->` and `<!-- /results:NAME -->`; nothing outside the markers is touched. A block
whose artifacts are missing is left as it is, and said so; artifacts that lack what a block needs (written
by an older version of the lab) stop the command before the README is written."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from service.bench import results_goals_md, results_md
from service.bench.bench_json import OtherBenchSchema, read_bench_json
from service.bench.files import write_texts, write_together
from service.browserbench.browser_json import read_browser_json
from service.settings import PROJECT_ROOT


class MissingMarker(ValueError):
    pass


class OutdatedArtifacts(ValueError):
    pass


def replace_block(text: str, name: str, body: str) -> str:
    """The block's body replaced; indented markers (a block inside a list item) indent the body alike."""
    start, end = re.escape(f"<!-- results:{name} -->"), re.escape(f"<!-- /results:{name} -->")
    pattern = re.compile(rf"^([ \t]*){start}\n.*?^[ \t]*{end}$", re.S | re.M)
    match = pattern.search(text)
    if match is None:
        raise MissingMarker(f"the README has no block <!-- results:{name} --> ... <!-- /results:{name} -->")
    indent = match.group(1)
    lines = [indent + line if line else "" for line in body.strip("\n").splitlines()]
    block = "\n".join([f"{indent}<!-- results:{name} -->", *lines, f"{indent}<!-- /results:{name} -->"])
    return text[: match.start()] + block + text[match.end() :]


def _json(path: Path) -> Any:
    """The file's JSON, or None when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def _versioned(block: str, read: Callable[[Path], Any], path: Path) -> Any:
    """`read`'s document (bench.json, browser.json), or None when there is no such file; one of
    another schema, or no JSON object, is refused, naming the block."""
    try:
        return read(path) if path.is_file() else None
    except OtherBenchSchema as exc:
        raise OutdatedArtifacts(f"{block}: {exc}; the README is left as it was") from exc


def _file(path: Path) -> Path | None:
    """The path, or None when there is no such file."""
    return path if path.is_file() else None


def render_blocks(bench_dir: Path, compare_dir: Path, browser_dir: Path) -> tuple[dict[str, str], list[str]]:
    """name -> markdown for every block whose artifacts exist; and what was missing."""
    bench = _versioned("run", read_bench_json, bench_dir / "bench.json")
    goals = _json(bench_dir / "goals.json")
    compare = _json(compare_dir / "compare.json")
    browser = _versioned("browser", read_browser_json, browser_dir / "browser.json")
    browser_md = browser_dir / "browser.md"
    batching = [run for t in (1, 2) if (run := _json(bench_dir / f"batching-t{t}.json")) is not None]
    bench_md = bench_dir / "bench.md"
    makers: dict[str, tuple[list[object | None], Callable[[], str]]] = {
        "run": (
            [bench, _file(bench_md), goals],
            lambda: results_md.run_block(bench_md.read_text(), bench, goals),
        ),
        "goals": ([goals], lambda: results_goals_md.goals_block(goals, compare)),
        "grid": ([goals], lambda: results_goals_md.grid_block(goals)),
        "levers": ([goals], lambda: results_goals_md.levers_block(goals)),
        "batching-engine": (
            [goals and goals.get("batching")],
            lambda: results_goals_md.batching_engine_block(goals),
        ),
        "batching-server": ([batching or None], lambda: results_goals_md.batching_server_block(batching)),
        "auto": ([goals], lambda: results_goals_md.auto_block(goals)),
        "formats": ([goals and goals.get("decode_by_format")], lambda: results_goals_md.formats_block(goals)),
        "compare": (
            [compare, _file(compare_dir / "compare.md")],
            lambda: results_md.compare_block((compare_dir / "compare.md").read_text(), compare),
        ),
        "browser": (
            [browser, _file(browser_md)],
            lambda: results_md.browser_block(browser_md.read_text(), browser),
        ),
        "browser-visitor": (
            [browser, _file(browser_md)],
            lambda: results_md.browser_visitor_block(browser_md.read_text()),
        ),
    }
    blocks, missing = {}, []
    for name, (needs, make) in makers.items():
        if all(n is not None for n in needs):
            try:
                blocks[name] = make()
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise OutdatedArtifacts(
                    f"{name}: its artifacts lack what it needs ({type(exc).__name__}: {exc}), written by an "
                    "older version? Rerun the command that writes them; the README is left as it was"
                ) from exc
        else:
            missing.append(name)
    return blocks, missing


def update_readme(
    readme: Path, bench_dir: Path, compare_dir: Path, browser_dir: Path, docs: Path | None
) -> list[str]:
    """Rewrite the blocks that can be rendered; returns the names left as they were."""
    blocks, missing = render_blocks(bench_dir, compare_dir, browser_dir)
    text = readme.read_text()
    for name, body in blocks.items():
        text = replace_block(text, name, body)
    # aside, then renamed into place, as the lab's commands write theirs: a crash or Ctrl-C mid-write
    # leaves the README (the project's own) and the chart as they were, never cut short
    write_texts(readme.parent, {readme.name: text})
    chart = bench_dir / "bench.png"
    if docs is not None and chart.is_file() and "run" in blocks:
        docs.mkdir(parents=True, exist_ok=True)
        write_together(docs, {"bench.png": lambda path: shutil.copyfile(chart, path)})
    return missing


def bench_readme(
    bench_dir: Annotated[
        Path, typer.Option(help="bench, bench-goals and bench-batching output")
    ] = PROJECT_ROOT / "artifacts" / "bench",
    compare_dir: Annotated[Path, typer.Option(help="`loadtests.run compare` output")] = PROJECT_ROOT
    / "artifacts"
    / "loadtest"
    / "compare",
    browser_dir: Annotated[Path, typer.Option(help="`bench-browser` output")] = PROJECT_ROOT
    / "artifacts"
    / "browser",
    readme: Annotated[Path, typer.Option()] = PROJECT_ROOT / "README.md",
    docs: Annotated[Path, typer.Option(help="where the chart goes")] = PROJECT_ROOT / "docs",
) -> None:
    """Rewrite the README's generated blocks from the artifacts of bench, bench-goals, bench-batching,
    compare and bench-browser (run those first, on a quiet host)."""
    try:
        missing = update_readme(readme, bench_dir, compare_dir, browser_dir, docs)
    except OutdatedArtifacts as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for name in missing:
        typer.echo(f"{name}: its artifacts are missing; the block is left as it was", err=True)
    typer.echo(f"{readme}: Results blocks rewritten" + (f" except {', '.join(missing)}" if missing else ""))
