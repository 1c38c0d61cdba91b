"""`mobile-vision-api bench-goals`: the server-speed goals of the latency lab, measured side by side,
one module per goal: HTTP overhead at default settings (overhead.py), saturation throughput against
the in-process engine and p99/p50 there, the server configurations and the engine taking turns
(saturation.py), decode + preprocess of a 1080p JPEG and of the same picture in each upload format
(formats.py), RSS over 10,000 requests (rss.py), and preset=auto against the bench's best cell
(auto_check.py); besides them a workers x threads grid with onnxruntime spinning, and what signed
int8 weights and batching could buy in the engine (engine_figures.py)."""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from service.artifacts import ArtifactLayout
from service.bench.auto_check import auto_vs_bench
from service.bench.command import default_image
from service.bench.engine_figures import batching_potential, int8_weights
from service.bench.failures import exits_when_a_measurement_fails
from service.bench.files import write_texts
from service.bench.floor import floor_server
from service.bench.formats import decode_by_format, decode_preprocess
from service.bench.grid_names import ACCESS_LOG, DEFAULT, PLAIN, grid_name
from service.bench.http import local_server
from service.bench.inprocess import InProcess, default_cell
from service.bench.machine import machine_info
from service.bench.options import EXISTING_FILE, MODELS_DIR, models_folder
from service.bench.overhead import http_overhead
from service.bench.process import tree_rss_mb, with_thread_cpu
from service.bench.rss import rss_over_requests
from service.bench.saturation import engine_measures, http_measure, interleaved, saturation_figures, summary
from service.localserver import exits_when_a_server_does_not_start
from service.manifest import Manifest
from service.settings import CPU_COUNT, PROJECT_ROOT

console = Console(stderr=True)
MODEL = "mobilenet_v2"
# the default server changed in one setting, timed for 1 client beside it: name -> grid configuration
VARIANTS = {"asyncio_h11": PLAIN, "access_log": ACCESS_LOG}
WARM = json.dumps([MODEL])  # MVA_WARM_MODELS of the servers beside the default


@exits_when_a_server_does_not_start
@exits_when_a_measurement_fails
def goals(
    seconds: Annotated[float, typer.Option(min=0.1, help="measured seconds per load configuration")] = 16.0,
    rounds: Annotated[int, typer.Option(min=1, help="turns the configurations take")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="clients at saturation")] = 8,
    rss_requests: Annotated[int, typer.Option(min=1, help="requests for the RSS check")] = 10_000,
    grid: Annotated[bool, typer.Option(help="workers x threads grid, spinning, batching")] = True,
    image: Annotated[
        Path | None, typer.Option(help="image for /classify (default grace_hopper.jpg)", **EXISTING_FILE)
    ] = None,
    large_image: Annotated[
        Path | None, typer.Option(help="the 1080p JPEG for the decode goal", **EXISTING_FILE)
    ] = None,
    out: Annotated[Path, typer.Option()] = PROJECT_ROOT / "artifacts" / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR", callback=models_folder)] = MODELS_DIR,
) -> None:
    """Measure the server-speed goals (README Results) and write goals.json."""
    layout = ArtifactLayout(models_dir)
    manifest = Manifest.load(layout.manifest)
    picture = (image or default_image()).read_bytes()
    large = large_image or PROJECT_ROOT.parent / "shared" / "images" / "cat_1080p.jpg"
    inprocess = InProcess(layout, manifest)
    cell = default_cell(manifest, MODEL)
    report: dict[str, Any] = {"machine": machine_info(), "concurrency": concurrency, "seconds": seconds}
    started = time.perf_counter()
    if large.exists():
        console.print("decode + preprocess, and by upload format")
        model_input = manifest.get(MODEL).input
        report["decode_preprocess"] = decode_preprocess(large, model_input, 300)
        report["decode_by_format"] = decode_by_format(large, model_input, budget_s=min(3.0, seconds / 5))
    else:
        console.print(f"decode + preprocess: not measured, {large} not found (--large-image)")
    with ExitStack() as servers:
        console.print("starting the servers")
        url, process = servers.enter_context(local_server(models_dir))
        floor_url = servers.enter_context(floor_server(models_dir))[0]
        configs = {DEFAULT: (url, process)}
        if grid:
            configs |= _grid_servers(servers, models_dir)
        console.print("HTTP overhead at default settings")
        report["http_overhead"] = http_overhead(
            url,
            floor_url,
            inprocess,
            cell,
            picture,
            6,
            40,
            {name: configs[config][0] for name, config in VARIANTS.items()} if grid else None,
        )
        console.print(f"saturation: {len(configs)} server configurations and the engine, interleaved")
        measures = engine_measures(inprocess, cell, picture)
        measures |= {name: http_measure(u, picture, concurrency) for name, (u, _) in configs.items()}
        cpu_windows: list[dict[str, float]] = []
        if Path("/proc").is_dir():
            measures[DEFAULT] = with_thread_cpu(measures[DEFAULT], process.pid, cpu_windows)
        loads = {name: summary(*r) for name, r in interleaved(measures, rounds, seconds).items()}
        for name, (_, server) in configs.items():  # after the load: what each configuration holds
            loads[name]["rss_mb"] = tree_rss_mb(server.pid)
        report["loads"] = loads
        report["saturation"] = saturation_figures(loads, cpu_windows)
        console.print(f"RSS over {rss_requests} requests")
        report["rss"] = rss_over_requests(url, process.pid, picture, rss_requests, max(1, rss_requests // 10))
    console.print("int8 weights: unsigned vs signed")
    report["int8_weights"] = int8_weights(layout, manifest, picture)
    if grid:
        console.print("batching potential")
        report["batching"] = batching_potential(layout)
    report["auto_vs_bench"] = auto_vs_bench(layout, manifest, out / "bench.json")
    report["took_s"] = round(time.perf_counter() - started, 1)
    write_texts(out, {"goals.json": json.dumps(report, indent=2, default=str) + "\n"})
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2, default=str))


def grid_configurations() -> dict[str, tuple[int, dict[str, str]]]:
    """The workers x threads grid beside the default: name -> (worker processes, environment)."""
    configs = {}
    # each worker process gets its share of the cores for its core budget, and at least its threads
    # (2 workers x 2 threads: each runs one 2-thread request at a time, 4 threads on 2 cores)
    for workers, threads, spinning in [
        (1, CPU_COUNT, False),
        (CPU_COUNT, 1, False),
        (CPU_COUNT, CPU_COUNT, False),
        (1, CPU_COUNT, True),
    ]:
        env = {
            "MVA_THREADS": str(threads),
            "MVA_INFERENCE_CORES": str(max(threads, CPU_COUNT // workers)),
            "MVA_ORT_SPINNING": str(spinning).lower(),
            "MVA_WARM_MODELS": WARM,
        }
        configs[grid_name(workers, threads, spinning)] = (workers, env)
    return configs


def _grid_servers(stack: ExitStack, models_dir: Path) -> dict[str, tuple[str, subprocess.Popen[bytes]]]:
    """The server configurations timed beside the default (each warms only the goals' model), started
    on free loopback ports and stopped with `stack`."""
    configs = {
        name: stack.enter_context(local_server(models_dir, env, workers=workers))
        for name, (workers, env) in grid_configurations().items()
    }
    # the default without uvloop and httptools: what they buy, at saturation and for 1 client
    plain = {"MVA_LOOP": "asyncio", "MVA_HTTP": "h11", "MVA_WARM_MODELS": WARM}
    configs[PLAIN] = stack.enter_context(local_server(models_dir, plain))
    # what the JSON access log costs (the container examples turn it on)
    logged = {"MVA_ACCESS_LOG": "true", "MVA_WARM_MODELS": WARM}
    configs[ACCESS_LOG] = stack.enter_context(local_server(models_dir, logged))
    return configs
