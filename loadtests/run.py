"""`python -m loadtests.run`: load-test a running service, a service it starts itself (CI), or compare the
service with the baselines. Options after the known ones go to the locustfile (e.g. --mva-engine litert)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loadtests.images import image_paths
from loadtests.launch import LoadResult, Scenario, run_locust, server_key_env
from service.bench.options import exit_codes
from service.localserver import exits_when_a_server_does_not_start, serve_app

app = typer.Typer(help="Locust load tests for mobile-vision-api.", no_args_is_help=True)
# no markup: paths, picture names and locust's error texts are printed as they are ("[old]" vanished,
# "[/x]" raised); errors go to stderr, apart from the report
console = Console(markup=False)
errors = Console(stderr=True, markup=False)
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
DEFAULT_OUT = Path("artifacts/loadtest")

DEFAULT_HOST = "http://127.0.0.1:8000"
# LOCUST_HOST wins (click reads it), then MVA_URL (the default, read at start), as the CLI's --url; the
# help says so rather than show whichever URL the default held
HostOpt = Annotated[
    str,
    typer.Option(envvar="LOCUST_HOST", help="service URL", show_default=f"$MVA_URL, else {DEFAULT_HOST}"),
]
UsersOpt = Annotated[int, typer.Option("--users", "-u", envvar="LOCUST_USERS", help="concurrent users")]
RateOpt = Annotated[
    float, typer.Option("--spawn-rate", "-r", envvar="LOCUST_SPAWN_RATE", help="users started per second")
]
TimeOpt = Annotated[
    str, typer.Option("--run-time", "-t", envvar="LOCUST_RUN_TIME", help="duration, e.g. 30s, 2m")
]
WorkersOpt = Annotated[int, typer.Option(help="0: one process; N: locust master + N worker processes")]
OutOpt = Annotated[Path, typer.Option(help="folder for CSV and HTML reports")]
FailOpt = Annotated[float, typer.Option(envvar="MVA_LOADTEST_MAX_FAIL_RATIO", help="allowed failure ratio")]
P95Opt = Annotated[float, typer.Option(envvar="MVA_LOADTEST_MAX_P95_MS", help="p95 limit in ms (0: none)")]
ImagesOpt = Annotated[Path | None, typer.Option(envvar="MVA_LOADTEST_IMAGES", help="folder of images")]


def summary_table(result: LoadResult, title: str) -> Table:
    table = Table(title=title)
    for column in ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for s in result.stats.values():
        table.add_row(
            s.name, str(s.requests), str(s.failures), f"{s.rps:.1f}", f"{s.p50_ms:.0f}", f"{s.p95_ms:.0f}",
            f"{s.p99_ms:.0f}",
        )  # fmt: skip
    return table


def stages_table(result: LoadResult) -> Table | None:
    """The server's own stage figures (its `timing`), per route; stages that took no time are left out."""
    stages = result.report.server_stages
    if not stages:
        return None
    table = Table(title="on the server (each right answer's timing)")
    for column in ("endpoint", "stage", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("endpoint", "stage") else "right")
    for route, figures in stages.items():
        for stage, f in figures.items():
            if f.get("p99_ms", 0) > 0:
                table.add_row(route, stage, f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}", f"{f['p99_ms']:.1f}")
    return table


def report(result: LoadResult, title: str) -> None:
    console.print(summary_table(result, title))
    stages = stages_table(result)
    if stages is not None:
        console.print(stages)
    for error in result.report.errors[:10]:
        console.print(
            Text.assemble(("failure", "red"), f" {error['name']}: {error['error']} (x{error['occurrences']})")
        )
    for exception in result.report.exceptions[:10]:
        console.print(
            Text.assemble(("exception", "red"), f" {exception['error']} (x{exception['occurrences']})")
        )
    for violation in result.report.violations:
        console.print(Text.assemble(("threshold not met", "red"), f": {violation}"))
    console.print(
        f"reports: {result.prefix}.html, {result.prefix}_*.csv, {result.prefix}_summary.json;"
        f" exit code {result.exit_code}"
    )


def check_images(images: Path | None) -> None:
    """Before anything starts: without pictures every locust user fails at its start, and the run would
    say so only after its whole run time."""
    try:
        image_paths(images)
    except FileNotFoundError as exc:
        errors.print(f"error: {exc}", style="red")
        raise typer.Exit(2) from None


USAGE = "an invalid option, or an --images folder without pictures"


@app.command(
    context_settings=PASS_THROUGH,
    epilog=exit_codes(
        "every limit met",
        "the failure ratio or p95 above its limit, no request made, or locust failed",
        USAGE,
        starts_servers=False,
    ),
)
def run(
    ctx: typer.Context,
    host: HostOpt = os.environ.get("MVA_URL", DEFAULT_HOST),
    users: UsersOpt = 8,
    spawn_rate: RateOpt = 4.0,
    run_time: TimeOpt = "30s",
    workers: WorkersOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    name: Annotated[str, typer.Option(help="report file prefix")] = "run",
    max_fail_ratio: FailOpt = 0.01,
    max_p95_ms: P95Opt = 0.0,
    images: ImagesOpt = None,
) -> None:
    """Load-test a running service; exits non-zero when the failure ratio or p95 is above its limit, or
    when no request was made. Options after these go to the locustfile: --mva-engine litert,
    --mva-threads 2, --mva-detector full, --mva-api-key KEY... (README, "Load tests")."""
    check_images(images)
    scenario = Scenario(
        users, spawn_rate, run_time, max_fail_ratio, max_p95_ms or None, images, tuple(ctx.args)
    )
    result = run_locust(host, scenario, out / name, workers)
    report(result, f"{host}: {users} users, {run_time}" + (f", {workers} workers" if workers else ""))
    raise typer.Exit(result.exit_code)


@app.command(
    context_settings=PASS_THROUGH,
    epilog=exit_codes(
        "no request failed",
        "a request failed, no request made, or the service it started did not start",
        USAGE,
    ),
)
@exits_when_a_server_does_not_start
def ci(
    ctx: typer.Context,
    users: UsersOpt = 4,
    spawn_rate: RateOpt = 4.0,
    run_time: TimeOpt = "20s",
    workers: WorkersOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    images: ImagesOpt = None,
) -> None:
    """Start the service on a free loopback port, load-test it briefly, require zero failures, stop it."""
    check_images(images)
    scenario = Scenario(users, spawn_rate, run_time, 0.0, None, images, tuple(ctx.args))
    with serve_app(log=out / "ci-server.log") as (url, _):
        result = run_locust(url, scenario, out / "ci", workers, server_key_env())
    report(result, f"CI load test: {users} users, {run_time}")
    raise typer.Exit(result.exit_code)


@app.command(
    context_settings=PASS_THROUGH,
    epilog=exit_codes(
        "every service measured in every round",
        "a round of a service not measured (the table is written and says why)",
        f"{USAGE}, an unknown service, baselines asked for another model, or MVA_* settings the service"
        " would refuse",
    ),
)
def compare(
    ctx: typer.Context,
    users: UsersOpt = 8,
    spawn_rate: RateOpt = 8.0,
    run_time: TimeOpt = "30s",
    out: Annotated[Path, typer.Option(help="folder for reports, table and JSON")] = DEFAULT_OUT / "compare",
    only: Annotated[list[str] | None, typer.Option(help="run only these: ours, naive, bentoml")] = None,
    rounds: Annotated[int, typer.Option(min=1, help="repeat the sequence of services (interleaved)")] = 2,
    images: ImagesOpt = None,
) -> None:
    """The same /classify scenario against our service and each baseline, one after the other, in rounds."""
    from loadtests.compare import (
        NotTheSameModel,
        UnknownService,
        check_same_model,
        chosen_targets,
        compare_targets,
    )
    from service.errors import InvalidSettings

    check_images(images)
    try:
        check_same_model(ctx.args, os.environ)
        chosen = chosen_targets(out, only)
    except (UnknownService, NotTheSameModel) as exc:
        errors.print(f"error: {exc}", style="red")
        raise typer.Exit(2) from None
    except InvalidSettings as exc:  # ours' MVA_* defaults, which `serve` would refuse as well
        errors.print(f"error: the service's settings (MVA_*): {exc}", style="red")
        raise typer.Exit(2) from None
    scenario = Scenario(users, spawn_rate, run_time, 1.0, None, images, tuple(ctx.args))
    rows = compare_targets(scenario, out, chosen, rounds, console)
    failed = [f"round {row['round']} {row['service']}" for row in rows if row.get("failed")]
    if failed:  # the table is written, but it lacks what a comparison needs
        errors.print(f"error: not measured: {', '.join(failed)} (the table says why)", style="red")
        raise typer.Exit(1)


if __name__ == "__main__":
    # SIGTERM (a CI job's timeout, `kill`) ends a command as Ctrl-C does: the server it started and its
    # locusts (sessions of their own) are stopped, with the reports written; by default SIGTERM killed
    # this process alone and left them running
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    app()
