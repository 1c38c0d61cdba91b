"""The `bench` command: options -> matrix run with a progress bar -> table on stdout, files in --out."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service.bench.chart import write_chart
from service.bench.files import write_together
from service.bench.http import ServerFailed, why_unreachable
from service.bench.machine import machine_info
from service.bench.matrix import DEFAULT_MODELS, ENGINE_CHOICES, MODES, default_threads
from service.bench.options import EXISTING_FILE, MODELS_DIR, known_models, models_folder, server_url
from service.bench.ratios import compute_ratios
from service.bench.report import (
    markdown_failures,
    markdown_machine,
    markdown_ratios,
    markdown_table,
    write_csv,
    write_json,
)
from service.bench.run import Bench, BenchConfig, Result
from service.localserver import exits_when_a_server_does_not_start
from service.manifest import Manifest
from service.settings import CPU_COUNT, PROJECT_ROOT

console = Console(stderr=True)  # progress and notes; the table goes to stdout
QUICK_RUNS, QUICK_WARMUP = 10, 2


def default_image() -> Path:
    """A photo with a face that ships inside matplotlib, so a fresh clone has one."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@exits_when_a_server_does_not_start
def bench(
    ctx: typer.Context,
    models: Annotated[list[str] | None, typer.Option("--model", help="model name (repeatable)")] = None,
    engines: Annotated[
        list[str] | None, typer.Option("--engine", help=f"one of {', '.join(ENGINE_CHOICES)} (repeatable)")
    ] = None,
    threads: Annotated[
        list[int] | None,
        typer.Option("--threads", min=1, max=CPU_COUNT, help="thread count (repeatable)"),
    ] = None,
    modes: Annotated[
        list[str] | None, typer.Option("--mode", help="engine | pipeline | http (repeatable)")
    ] = None,
    runs: Annotated[
        int, typer.Option(min=1, help="timed runs per cell (reference kernels: at most 10)")
    ] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="untimed runs per cell first")] = 20,
    quick: Annotated[
        bool,
        typer.Option(
            help=f"CI-sized: {QUICK_RUNS} runs, {QUICK_WARMUP} warm-up (not with --runs or --warmup)"
        ),
    ] = False,
    image: Annotated[
        Path | None, typer.Option(help="image for every model (default: grace_hopper.jpg)", **EXISTING_FILE)
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(callback=server_url, help="bench this running server instead of starting one"),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for bench.{json,csv,png,md}")] = PROJECT_ROOT
    / "artifacts"
    / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR", callback=models_folder)] = MODELS_DIR,
) -> None:
    """Latency matrix: model x engine x precision x SIMD x threads; engine only, pipeline, HTTP."""
    given = [f"--{name}" for name in ("runs", "warmup") if _typed(ctx, name)]
    if quick and given:  # --quick overrode them without a word: what ran was not what was asked
        raise typer.BadParameter(
            f"--quick means {QUICK_RUNS} runs and {QUICK_WARMUP} warm-up: give it or {' and '.join(given)}",
            param_hint="--quick",
        )
    for name in engines or []:
        if name not in ENGINE_CHOICES:
            raise typer.BadParameter(
                f"{name!r}: choose from {', '.join(ENGINE_CHOICES)}", param_hint="--engine"
            )
    for name in modes or []:
        if name not in MODES:
            raise typer.BadParameter(f"{name!r}: choose from {', '.join(MODES)}", param_hint="--mode")
    problem = url and why_unreachable(url)
    if problem:  # as bench-browser; another server there failed every HTTP cell, after minutes of the others
        typer.echo(f"error: --url {url}: {problem}", err=True)
        raise typer.Exit(2)
    picture = image or default_image()
    config = BenchConfig(
        models_dir=models_dir,
        models=known_models(Manifest.load(models_dir / "manifest.json"), models or list(DEFAULT_MODELS)),
        engines=engines or list(ENGINE_CHOICES),
        threads=sorted(set(threads)) if threads else default_threads(),
        runs=QUICK_RUNS if quick else runs,
        warmup=QUICK_WARMUP if quick else warmup,
        images={"classification": picture, "detection": picture},
        modes=[m for m in MODES if m in (modes or MODES)],
        url=url,
    )
    command = _command_line(ctx)
    machine = machine_info()
    runner = Bench(config)
    with Progress(
        TextColumn("{task.description:<48}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=runner.total_runs())
        try:
            results = runner.run(lambda what: progress.update(task, advance=1, description=what))
        except ServerFailed as exc:
            # the server at --url gone since the check above: one line, no traceback; nothing is
            # written (a cell the server fails is that cell's result)
            progress.stop()
            typer.echo(f"error: a measurement failed: {exc}", err=True)
            raise typer.Exit(1) from exc
    ratios = compute_ratios(results)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "command": command,
        "runs": config.runs,
        "warmup": config.warmup,
        "threads": config.threads,
        "image": picture.name,
        "url": config.url or "a server started by the command",
    }
    summary = "\n\n".join(
        part
        for part in [
            f"Command: `{command}` (image {picture.name}, {_runs_per_cell(config, results)})",
            markdown_machine(machine),
            markdown_table(results),
            markdown_failures(results),
            markdown_ratios(ratios),
        ]
        if part
    )
    title = f"{command}\n{machine['cpu']}, {machine['cores']} cores"  # the chart wraps it to its width
    write_together(
        out,
        {
            "bench.json": lambda path: write_json(path, machine, settings, results, ratios),
            "bench.csv": lambda path: write_csv(path, results),
            "bench.png": lambda path: write_chart(path, results, title),
            "bench.md": lambda path: path.write_text(summary + "\n"),
        },
    )
    typer.echo(summary)
    console.print(f"wrote {', '.join(str(out / f'bench.{ext}') for ext in ('json', 'csv', 'png', 'md'))}")
    failed = [r for r in results if r.error]
    if failed:  # the figures of the others are written; the run as a whole did not succeed
        typer.echo(f"bench: {len(failed)} of {len(results)} cells x modes failed:", err=True)
        for r in failed:
            typer.echo(f"  {r.cell.model} {r.cell.label}, {r.mode}: {r.error}", err=True)
        raise typer.Exit(1)


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option was given on the command line (by name, as _command_line: typer's parameter
    source is typer._click's enum, not click's: typer vendors click)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _command_line(ctx: typer.Context) -> str:
    """The command as typed (options given on the command line, in a canonical order), for the
    report: "mobile-vision-api bench --quick ..."."""
    words = ["mobile-vision-api", ctx.info_name or "bench"]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if source is None or source.name != "COMMANDLINE":
            continue
        flag = max(param.opts, key=len)
        value = ctx.params[param.name or ""]
        if isinstance(value, bool):
            words.append(flag if value else max(param.secondary_opts, key=len))
        else:
            words += [
                w for v in (value if isinstance(value, list | tuple) else [value]) for w in (flag, str(v))
            ]
    return shlex.join(words)


def _runs_per_cell(config: BenchConfig, results: list[Result]) -> str:
    """The header's runs and warm-up, and the reference kernels' own where they are fewer (run.py caps
    them: the header said every cell had the same warm-up)."""
    said = f"{config.runs} runs, {config.warmup} warm-up per cell"
    reference = next((r.cell for r in results if r.cell.kernels == "reference"), None)
    if reference is None or config.runs_for(reference) == (config.warmup, config.runs):
        return said
    warmup, runs = config.runs_for(reference)
    return f"{said}; the reference kernels: {runs} runs, {warmup} warm-up"
