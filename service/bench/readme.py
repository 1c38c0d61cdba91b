"""`mobile-vision-api bench-readme` (`make results`): rewrite the README's generated Results blocks from
the latency lab's artifacts, and copy the bench chart to docs/. A block is the text between
`<!-- results:NAME -->` and `<!-- /results:NAME -->`; nothing outside the markers is touched. A block
whose artifacts are missing is left as it is, and said so, naming them; artifacts that lack what a block
needs (written by an older version of the lab) stop the command before the README is written."""

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
    """The file's JSON, or None when there is no such file; one cut short is refused, named (it was a
    traceback), as bench.json's is."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError as exc:  # cut short, or not even UTF-8
        raise OutdatedArtifacts(
            f"{path} is not JSON ({exc}): rerun the command that writes it; the README is left as it was"
        ) from exc


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


def render_blocks(
    bench_dir: Path, compare_dir: Path, browser_dir: Path
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """name -> markdown for every block whose artifacts exist; and name -> the artifacts missing for
    each other block (the run block needs goals.json too: with bench's files alone it is missing)."""
    bench_json, bench_md, goals_json = (
        bench_dir / "bench.json",
        bench_dir / "bench.md",
        bench_dir / "goals.json",
    )
    compare_json, compare_md = compare_dir / "compare.json", compare_dir / "compare.md"
    browser_json, browser_md = browser_dir / "browser.json", browser_dir / "browser.md"
    bench = _versioned("run", read_bench_json, bench_json)
    goals = _json(goals_json)
    compare = _json(compare_json)
    browser = _versioned("browser", read_browser_json, browser_json)
    batching = [run for t in (1, 2) if (run := _json(bench_dir / f"batching-t{t}.json")) is not None]

    def in_goals(key: str, written_by: str) -> dict[Path | str, object | None]:
        """goals.json and a part of it that only some bench-goals runs write: what is missing, named."""
        if goals is None:
            return {goals_json: None}
        return {f"{goals_json}'s {key} ({written_by})": goals.get(key)}

    # each block: what it needs (the artifact's name -> its content, None when missing), and its maker
    makers: dict[str, tuple[dict[Path | str, object | None], Callable[[], str]]] = {
        "run": (
            {bench_json: bench, bench_md: _file(bench_md), goals_json: goals},
            lambda: results_md.run_block(bench_md.read_text(), bench, goals),
        ),
        "goals": ({goals_json: goals}, lambda: results_goals_md.goals_block(goals, compare)),
        "grid": ({goals_json: goals}, lambda: results_goals_md.grid_block(goals)),
        "levers": ({goals_json: goals}, lambda: results_goals_md.levers_block(goals)),
        "batching-engine": (
            in_goals("batching", "bench-goals without --no-grid"),
            lambda: results_goals_md.batching_engine_block(goals),
        ),
        "batching-server": (
            {bench_dir / "batching-t<threads>.json": batching or None},
            lambda: results_goals_md.batching_server_block(batching),
        ),
        "auto": ({goals_json: goals}, lambda: results_goals_md.auto_block(goals)),
        "formats": (
            in_goals("decode_by_format", "bench-goals with its --large-image"),
            lambda: results_goals_md.formats_block(goals),
        ),
        "compare": (
            {compare_json: compare, compare_md: _file(compare_md)},
            lambda: results_md.compare_block(compare_md.read_text(), compare),
        ),
        "browser": (
            {browser_json: browser, browser_md: _file(browser_md)},
            lambda: results_md.browser_block(browser_md.read_text(), browser),
        ),
        "browser-visitor": (
            {browser_json: browser, browser_md: _file(browser_md)},
            lambda: results_md.browser_visitor_block(browser_md.read_text()),
        ),
    }
    blocks: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for name, (needs, make) in makers.items():
        if absent := [str(artifact) for artifact, content in needs.items() if content is None]:
            missing[name] = absent
        else:
            try:
                blocks[name] = make()
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise OutdatedArtifacts(
                    f"{name}: its artifacts lack what it needs ({type(exc).__name__}: {exc}), written by an "
                    "older version? Rerun the command that writes them; the README is left as it was"
                ) from exc
    return blocks, missing


def update_readme(
    readme: Path, bench_dir: Path, compare_dir: Path, browser_dir: Path, docs: Path | None
) -> tuple[list[str], dict[str, list[str]]]:
    """Rewrite the blocks that can be rendered; returns their names, and name -> the artifacts missing
    for each block left as it was. No block to rewrite leaves the README untouched."""
    blocks, missing = render_blocks(bench_dir, compare_dir, browser_dir)
    if not blocks:
        return [], missing
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
    return list(blocks), missing


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
        rewritten, missing = update_readme(readme, bench_dir, compare_dir, browser_dir, docs)
    except OutdatedArtifacts as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for name, absent in missing.items():
        typer.echo(
            f"{name}: its artifacts are missing ({', '.join(absent)}); the block is left as it was", err=True
        )
    if not rewritten:  # not an error (exit 0, as documented): the lab may simply not have run yet
        typer.echo(
            f"{readme}: no Results block rewritten, every block's artifacts are missing; left as it was"
        )
    else:
        typer.echo(
            f"{readme}: Results blocks rewritten" + (f" except {', '.join(missing)}" if missing else "")
        )
