"""`mobile-vision-api bench-batching`: micro-batching through the server, at several batching windows
(0 = off) and queued (no window), the servers taking turns under the same closed-loop load."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from service.bench.command import default_image
from service.bench.failures import exits_when_a_measurement_fails
from service.bench.files import write_texts
from service.bench.http import get_ok, local_server
from service.bench.machine import machine_info
from service.bench.options import EXISTING_FILE, MODELS_DIR, models_folder
from service.bench.saturation import http_measure, interleaved, summary
from service.localserver import exits_when_a_server_does_not_start
from service.settings import CPU_COUNT, PROJECT_ROOT

BATCH_WINDOWS_MS = (0.0, 2.0, 5.0, 10.0)
QUEUED = "queued"  # the configuration's name in batching-t<threads>.json


@exits_when_a_server_does_not_start
@exits_when_a_measurement_fails
def batching(
    seconds: Annotated[float, typer.Option(min=0.1, help="measured seconds per configuration")] = 20.0,
    rounds: Annotated[int, typer.Option(min=1, help="turns the configurations take")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="clients")] = 8,
    threads: Annotated[int, typer.Option(min=1, max=CPU_COUNT, help="intra-op threads per engine call")] = 1,
    window: Annotated[
        list[float] | None,
        typer.Option(min=0, max=1000, help="batching window in ms, 0 = off (repeat; default 0 2 5 10)"),
    ] = None,
    queued: Annotated[bool, typer.Option(help="also queued batching (MVA_BATCH_QUEUED, no window)")] = True,
    image: Annotated[
        Path | None, typer.Option(help="image for /classify (default grace_hopper.jpg)", **EXISTING_FILE)
    ] = None,
    out: Annotated[Path, typer.Option()] = PROJECT_ROOT / "artifacts" / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR", callback=models_folder)] = MODELS_DIR,
) -> None:
    """Micro-batching through the server: throughput and latency at each window (default 0 = off, 2, 5
    and 10 ms) and queued, the servers taking turns; writes batching-t<threads>.json."""
    picture = (image or default_image()).read_bytes()
    # both variables each time: a server inherits this process's environment, which may set either
    configurations = {
        f"window {ms:g} ms": {"MVA_BATCH_WINDOW_MS": str(ms), "MVA_BATCH_QUEUED": "false"}
        for ms in window or BATCH_WINDOWS_MS
    }
    if queued:
        configurations[QUEUED] = {"MVA_BATCH_WINDOW_MS": "0", "MVA_BATCH_QUEUED": "true"}
    with ExitStack() as servers:
        urls = {}
        for name, batching_env in configurations.items():
            env = {**batching_env, "MVA_THREADS": str(threads), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
            urls[name] = servers.enter_context(local_server(models_dir, env))[0]
        measures = {name: http_measure(url, picture, concurrency) for name, url in urls.items()}
        loads = {name: summary(*r) for name, r in interleaved(measures, rounds, seconds).items()}
        for name, url in urls.items():
            loads[name]["mean_batch"] = _mean_batch(url)
    report = {"machine": machine_info(), "concurrency": concurrency, "threads": threads, "loads": loads}
    write_texts(out, {f"batching-t{threads}.json": json.dumps(report, indent=2, default=str) + "\n"})
    typer.echo("| batching | req/s | p50 ms | p99 ms | mean batch |\n|---|---:|---:|---:|---:|")
    for name, load in loads.items():
        batch = load["mean_batch"]
        typer.echo(f"| {name} | {load['rps']} | {load['p50_ms']} | {load['p99_ms']} | {batch or 1:.2f} |")


def _mean_batch(url: str) -> float | None:
    """From the server's mva_batch_size histogram (None when batching is off)."""
    text = get_ok(f"{url}/metrics", timeout=10).text
    values = dict(
        line.rsplit(" ", 1)
        for line in text.splitlines()
        if line.startswith(("mva_batch_size_sum", "mva_batch_size_count"))
    )
    count = float(values.get("mva_batch_size_count", 0))
    return round(float(values["mva_batch_size_sum"]) / count, 2) if count else None
