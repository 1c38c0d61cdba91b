"""`mobile-vision-api bench-browser` (also `python -m service.browserbench`): the page's benchmark mode
in headless chromium for classification and detection, merged into one report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from service.bench.http import why_unreachable
from service.bench.options import server_url
from service.browserbench.run import PAGE_MAX_ITERATIONS
from service.localserver import exits_when_a_server_does_not_start
from service.settings import PROJECT_ROOT

DEFAULT_IMAGES = PROJECT_ROOT.parent / "shared" / "images"


@exits_when_a_server_does_not_start
def bench_browser(
    iterations: Annotated[
        int, typer.Option(min=1, max=PAGE_MAX_ITERATIONS, help="timed runs per configuration")
    ] = 10,
    images: Annotated[
        Path,
        typer.Option(
            envvar="MVA_TEST_IMAGES",
            exists=True,
            file_okay=False,
            help="folder with grace_hopper.bmp and face.jpg",
        ),
    ] = DEFAULT_IMAGES,
    url: Annotated[
        str | None,
        typer.Option(callback=server_url, help="a running server (default: start one on a free port)"),
    ] = None,
    target_p99_ms: Annotated[float, typer.Option(min=1, help="p99 target for the sizing")] = 200.0,
    # chromium's emulation takes a throughput of 0 for "unlimited": no link of 0 Mbit/s, nor below 0
    link_mbps: Annotated[
        float,
        typer.Option(min=0.1, help="new visitor on an emulated link: download Mbit/s (upload half)"),
    ] = 50.0,
    link_rtt_ms: Annotated[float, typer.Option(min=0, help="the emulated link's round trip")] = 20.0,
    out: Annotated[Path, typer.Option(help="folder for browser.{json,md}")] = PROJECT_ROOT
    / "artifacts"
    / "browser",
) -> None:
    """Browser (onnxruntime-web wasm, SIMD off/on x 1/2 threads) vs server engines, one report.

    Exit codes: 0 every configuration measured; 1: the page measured nothing, a configuration failed
    (the report is written, the failures listed on stderr), or the server it started did not start; 2:
    an invalid option, an --images folder without the pictures, a --url where this service does not
    answer, or no chromium (or one that does not start); 130: interrupted (Ctrl-C, SIGTERM), the server
    and browser it started stopped.
    """
    from contextlib import nullcontext

    from service.bench.bench_json import OtherBenchSchema
    from service.bench.machine import machine_info
    from service.browserbench.chromium import ChromiumNotStarted, find_chromium
    from service.browserbench.lab import LAB_JSON, native_p50, read_lab
    from service.browserbench.report import add_lab, deployment, markdown, summarize
    from service.browserbench.run import (
        Link,
        PageFailed,
        PageNotReady,
        browser_jobs,
        new_visitor,
        page_benchmark,
        unfinished_benchmark,
    )
    from service.localserver import serve_app

    jobs = browser_jobs(images)
    missing = [job.image.name for job in jobs if not job.image.is_file()]
    if missing:  # before a server and chromium start: playwright's FileNotFoundError was a traceback
        typer.echo(f"error: --images {images}: no {', '.join(missing)} there", err=True)
        raise typer.Exit(2)
    if url:
        url = url.rstrip("/")  # as copied from an address bar; the page is at url + "/"
        problem = why_unreachable(url)
        if problem:
            typer.echo(f"error: --url {url}: {problem}", err=True)
            raise typer.Exit(2)
    chromium = find_chromium()
    if chromium is None:
        typer.echo("chromium not found: `make browser-deps` (or set MVA_CHROMIUM)", err=True)
        raise typer.Exit(2)
    try:
        lab = read_lab(LAB_JSON)
    except OtherBenchSchema as exc:  # rows that may mean other things, or none (cut short): left out
        typer.echo(f"note: {exc}; the report leaves the lab's in-process figures out", err=True)
        lab = None
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()  # when, on what, with what load (bench-readme names the run)
    with nullcontext((url, None)) if url else serve_app() as (base, _):
        benches = []
        for job in jobs:
            typer.echo(f"{job.name}: {iterations} iterations per configuration ...")
            shot = out / f"page-{job.model}.png"
            try:
                benches.append(page_benchmark(chromium, base, job, iterations, shot))
            except PageNotReady as exc:  # the server's doing (its key, its manifest): the same for each
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            except ChromiumNotStarted as exc:  # MVA_CHROMIUM not a browser: as no chromium at all
                typer.echo(f"error: chromium: {exc}", err=True)
                raise typer.Exit(2) from None
            except PageFailed as exc:  # a failed entry: the other model's figures are kept
                typer.echo(f"error: {exc}", err=True)
                benches.append(unfinished_benchmark(job, iterations, str(exc)))
        if all(bench.get("error") for bench in benches):  # nothing measured at all: no report
            raise typer.Exit(1)
        link = Link(link_mbps, link_mbps / 2, link_rtt_ms)
        try:
            visitors = [
                new_visitor(chromium, base, job, simd=True, threads=2, link=hop, compressed=compressed)
                for job in jobs
                for hop, compressed in ((None, True), (link, True), (link, False))
            ]
        except PageFailed as exc:  # a visitor's page not ready (a failed visit is a row)
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    summaries = [
        add_lab(summarize(bench), native_p50(lab, job.model, job.precision))
        for job, bench in zip(jobs, benches, strict=True)
    ]
    deployments = [deployment(s, target_p99_ms) for s in summaries]
    text = markdown(summaries, deployments, visitors)
    payload = {"machine": machine, "summaries": summaries, "deployment": deployments, "new_visitor": visitors}
    payload["raw"] = benches
    save_report(out, payload, text)
    typer.echo(text)
    typer.echo(f"\nwritten: {out / 'browser.json'}, {out / 'browser.md'}")
    failed = failures(summaries, visitors)
    if failed:  # as `bench` does: the others' figures are written; the run as a whole did not succeed
        typer.echo(f"bench-browser: {len(failed)} configuration(s) failed:", err=True)
        for line in failed:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)


def failures(summaries: list[dict[str, Any]], visitors: list[dict[str, Any]]) -> list[str]:
    """What failed, one line each (as browser.md lists them): the page's configurations, the
    screenshots, then the new visitors."""
    from service.browserbench.report import failed_configurations, failed_screenshots

    rows = failed_configurations(summaries) + failed_screenshots(summaries)
    rows += [f"{v['job']}, new visitor ({v['link']}): {v['error']}" for v in visitors if v.get("error")]
    return rows


def save_report(out: Path, payload: dict[str, Any], text: str) -> None:
    """browser.json and browser.md, whole and of one run (bench-readme reads both)."""
    from service.bench.files import write_texts
    from service.browserbench.browser_json import BROWSER_SCHEMA

    document = {"schema": BROWSER_SCHEMA, **payload}
    write_texts(out, {"browser.json": json.dumps(document, indent=2) + "\n", "browser.md": text + "\n"})
