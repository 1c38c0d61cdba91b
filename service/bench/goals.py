"""`mobile-vision-api bench-goals`: the server-speed goals of the latency lab, measured side by side:
HTTP overhead at default settings, saturation throughput against the in-process engine and p99/p50
there (server configurations and the engine take turns), decode + preprocess of a 1080p JPEG (and of
the same picture in each upload format), RSS
over 10,000 requests, a workers x threads grid with onnxruntime spinning, what batching could buy,
and preset=auto against the bench's best cell."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from pathlib import Path
from statistics import median
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from service.artifacts import ArtifactLayout
from service.autotune import tune
from service.bench.asgi import InProcessApp
from service.bench.command import default_image
from service.bench.engine_figures import batching_potential, int8_weights
from service.bench.floor import floor_server
from service.bench.formats import decode_by_format, decode_preprocess
from service.bench.grid_names import ACCESS_LOG, DEFAULT, PLAIN, grid_name
from service.bench.http import LeanClient, SpinningClient, api_key_headers, local_server
from service.bench.inprocess import InProcess, default_cell, time_call
from service.bench.load import LoadResult, http_load, thread_load
from service.bench.machine import machine_info
from service.bench.matrix import Cell
from service.bench.process import Measure, server_cpu, tree_rss_mb, with_thread_cpu
from service.bench.stats import Stats
from service.manifest import Manifest
from service.settings import CPU_COUNT, PROJECT_ROOT

console = Console(stderr=True)
MODEL = "mobilenet_v2"
# the default server changed in one setting, timed for 1 client beside it: name -> grid configuration
VARIANTS = {"asyncio_h11": PLAIN, "access_log": ACCESS_LOG}


def _default_cell(manifest: Manifest) -> Cell:
    return default_cell(manifest, MODEL)


def http_overhead(
    url: str,
    floor_url: str,
    inprocess: InProcess,
    manifest: Manifest,
    image: bytes,
    blocks: int,
    per_block: int,
    variant_urls: dict[str, str] | None = None,
) -> dict:
    """The default request (`POST /classify`, raw JPEG body, no parameters) against the same pipeline
    in-process, in alternating blocks so drift on a shared machine hits all alike. The goal figure
    uses a lean client (http.client, as curl or a load balancer costs); httpx is shown beside it, as
    its own per-request work is part of what a Python caller sees. The floor (service/bench/floor.py,
    the same pipeline behind a bare ASGI app, same lean client) is what uvicorn, loopback TCP and the
    thread hop take on this host whatever the app does. `variant_urls` (VARIANTS' names): the default
    server with one setting changed, timed the same way."""
    cell = _default_cell(manifest)
    pipeline_call = inprocess.pipeline_call(cell, image)
    lean_call = _default_request(url, image)
    floor_call = _default_request(floor_url, image)
    client = httpx.Client(base_url=url, timeout=60, headers=api_key_headers())

    def httpx_call() -> object:
        response = client.post("/classify", content=image, headers={"content-type": "image/jpeg"})
        response.raise_for_status()
        return response

    for _ in range(10):
        pipeline_call(), httpx_call()
    runs: dict[str, list[float]] = {}
    server_stages: list[dict[str, float]] = []

    def timed_lean() -> float:
        begin = time.perf_counter()
        body = lean_call()
        elapsed = (time.perf_counter() - begin) * 1000.0
        server_stages.append(json.loads(body)["timing"])
        return elapsed

    # the floor's parts: the hop and HTTP with no work, and with a busy-wait as long as the pipeline
    wait_ms = round(median(time_call(pipeline_call) for _ in range(20)), 1)
    floor_client = LeanClient(floor_url)

    def floor_busy(ms: float) -> float:
        return time_call(lambda: floor_client.post("/", {"busy_ms": str(ms)}, b"", "image/jpeg"))

    calls = {"pipeline": lambda: time_call(pipeline_call), "http": timed_lean}
    calls |= {"httpx": lambda: time_call(httpx_call), "floor": lambda: time_call(floor_call)}
    calls |= {"floor_no_work": lambda: floor_busy(0), "floor_busy_wait": lambda: floor_busy(wait_ms)}
    # the default request again from a client that polls instead of sleeping: what is left without
    # the client's own wake-up (a diagnostic; the goal figure is the lean client's)
    spinning = SpinningClient(url)
    calls["http_spinning_client"] = lambda: time_call(
        lambda: spinning.post("/classify", {}, image, "image/jpeg")
    )
    # the same request without HTTP, in this process: the whole app, and our handler alone
    in_process_app = InProcessApp(MODEL)
    calls["asgi_app"] = partial(time_call, in_process_app.call(image))
    calls["asgi_handler"] = partial(time_call, in_process_app.call(image, handler_only=True))
    for name, variant_url in (variant_urls or {}).items():
        variant_call = _default_request(variant_url, image)
        calls[f"http_{name}"] = partial(time_call, variant_call)
    for _ in range(blocks):
        for name, timed in calls.items():
            runs.setdefault(name, []).extend(timed() for _ in range(per_block))
    client.close()
    floor_client.close()
    spinning.close()
    in_process_app.close()
    stats = {name: Stats.of(values) for name, values in runs.items()}
    pipeline_p50 = stats["pipeline"].p50_ms
    # where the difference goes: the server's own stage figures (p50 of each)
    stages = {k: round(median(t[k] for t in server_stages), 3) for k in server_stages[0]}
    return {
        "cell": cell.label,
        "client": "http.client, keep-alive, TCP_NODELAY; no query parameters",
        **{name: asdict(stat) for name, stat in stats.items()},
        "server_timing_p50_ms": stages,
        "overhead_ms": round(stats["http"].p50_ms - pipeline_p50, 3),
        "httpx_overhead_ms": round(stats["httpx"].p50_ms - pipeline_p50, 3),
        "floor_overhead_ms": round(stats["floor"].p50_ms - pipeline_p50, 3),
        # what the floor costs with no work in the thread, and with a busy-wait of wait_ms instead
        # of the pipeline: when the second is about the floor's overhead and the first far below,
        # the time goes to waking what slept through the wait, not to the pipeline or to HTTP
        "floor_no_work_ms": stats["floor_no_work"].p50_ms,
        "busy_wait_ms": wait_ms,
        "floor_busy_wait_excess_ms": round(stats["floor_busy_wait"].p50_ms - wait_ms, 3),
        "spinning_client_overhead_ms": round(stats["http_spinning_client"].p50_ms - pipeline_p50, 3),
        # without HTTP (service/bench/asgi.py): our handler around the pipeline (the hop there and back,
        # upload, settings, timing, metrics, typed response), then FastAPI's layers and our middleware
        "asgi_handler_overhead_ms": round(stats["asgi_handler"].p50_ms - pipeline_p50, 3),
        "asgi_app_over_handler_ms": round(stats["asgi_app"].p50_ms - stats["asgi_handler"].p50_ms, 3),
        "http_over_asgi_app_ms": round(stats["http"].p50_ms - stats["asgi_app"].p50_ms, 3),
    } | {
        f"{name}_overhead_ms": round(stats[f"http_{name}"].p50_ms - pipeline_p50, 3)
        for name in variant_urls or {}
    }


def _default_request(url: str, image: bytes) -> Callable[[], bytes]:
    """The default /classify request (raw JPEG body, no parameters) from a LeanClient, warmed up."""
    client = LeanClient(url)

    def call() -> bytes:
        return client.post("/classify", {}, image, "image/jpeg")

    for _ in range(10):
        call()
    return call


def engine_measures(inprocess: InProcess, manifest: Manifest, image: bytes) -> dict[str, Measure]:
    """The engine alone for the default model and precision, as hard as this host allows: 1-thread
    runners on every core at once, or one runner with every core."""
    cell = _default_cell(manifest)
    wide = Cell(cell.model, cell.engine, cell.precision, cell.kernels, CPU_COUNT)
    narrow_call, wide_call = inprocess.engine_call(cell, image), inprocess.engine_call(wide, image)
    pipeline_call = inprocess.pipeline_call(cell, image)
    return {
        f"engine {cell.label} x{CPU_COUNT} callers": lambda s: thread_load(narrow_call, CPU_COUNT, s, 0.3),
        f"engine {wide.label} x1 caller": lambda s: thread_load(wide_call, 1, s, 0.3),
        # not an engine figure: decode + engine + postprocessing, what the server does minus HTTP
        f"pipeline {cell.label} x{CPU_COUNT} callers": lambda s: thread_load(
            pipeline_call, CPU_COUNT, s, 0.3
        ),
    }


def http_measure(url: str, image: bytes, concurrency: int) -> Measure:
    return lambda seconds: http_load(url, "/classify", {}, image, "image/jpeg", concurrency, seconds, 0.5)


def interleaved(
    measures: dict[str, Measure], rounds: int, seconds: float
) -> dict[str, tuple[LoadResult, float]]:
    """Each measure runs `rounds` times for seconds / rounds, the measures taking turns, so load from
    elsewhere on a shared machine hits all of them alike. Also returns the cores this (the bench)
    process kept busy meanwhile: for HTTP, what the load generator itself takes from the server."""
    parts: dict[str, list[LoadResult]] = {name: [] for name in measures}
    cpu_s = dict.fromkeys(measures, 0.0)
    wall_s = dict.fromkeys(measures, 0.0)
    for _ in range(rounds):
        for name, measure in measures.items():
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            parts[name].append(measure(seconds / rounds))
            cpu_s[name] += time.process_time() - cpu_before
            wall_s[name] += time.perf_counter() - wall_before
    combined = {name: LoadResult.combine(results) for name, results in parts.items()}
    return {name: (r, round(cpu_s[name] / wall_s[name], 2)) for name, r in combined.items()}


def summary(result: LoadResult, bench_process_cores: float) -> dict[str, Any]:
    return {
        "bench_process_cores": bench_process_cores,
        "rps": result.throughput_rps,
        "ok": result.ok,
        "failures": result.failures,
        "p50_ms": result.latency.p50_ms,
        "p99_ms": result.latency.p99_ms,
        "p99_over_p50": round(result.latency.p99_ms / result.latency.p50_ms, 2),
    }


async def _send(url: str, image: bytes, count: int, concurrency: int) -> int:
    sent, failed = 0, 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def user() -> None:
            nonlocal sent, failed
            while sent < count:
                sent += 1
                response = await client.post(
                    "/classify", content=image, headers={"content-type": "image/jpeg"}
                )
                failed += response.status_code != 200

        await asyncio.gather(*(user() for _ in range(concurrency)))
    return failed


def rss_over_requests(url: str, pid: int, image: bytes, total: int, step: int) -> dict:
    samples = [(0, tree_rss_mb(pid))]
    failed = 0
    for done in range(step, total + 1, step):
        failed += asyncio.run(_send(url, image, step, concurrency=4))
        samples.append((done, tree_rss_mb(pid)))
    after_warm = [mb for n, mb in samples if n >= step]
    return {
        "requests": total,
        "failed": failed,
        "rss_mb": samples,
        "max_mb": max(mb for _, mb in samples),
        "growth_after_first_step_mb": round(after_warm[-1] - after_warm[0], 1),
    }


def auto_vs_bench(layout: ArtifactLayout, manifest: Manifest, bench_json: Path) -> dict:
    """preset=auto's choice (measured now) against the best engine-mode cell of the bench run, both
    read from the bench's own figures."""
    if not bench_json.exists():
        return {"note": f"{bench_json} not found: run `make bench` first"}
    rows = [r for r in json.loads(bench_json.read_text())["results"] if r["mode"] == "engine"]
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        choice = tune(manifest.get(name), layout).choice
        cells = [r for r in rows if r["model"] == name and r["kernels"] != "reference"]
        best = min(cells, key=lambda r: r["p50_ms"])
        picked = next(
            (
                r
                for r in cells
                if (r["engine"], r["precision"], r["kernels"], r["threads"])
                == (choice.engine, choice.precision, choice.kernels, choice.threads)
            ),
            None,
        )
        out[name] = {
            "auto": choice.model_dump(),
            "best": f"{best['backend']} {best['precision']} t{best['threads']}",
            "best_p50_ms": best["p50_ms"],
            "auto_p50_ms_in_bench": picked and picked["p50_ms"],
            "ratio": picked and round(picked["p50_ms"] / best["p50_ms"], 3),
        }
    return out


def goals(
    seconds: Annotated[float, typer.Option(help="measured seconds per load configuration")] = 16.0,
    rounds: Annotated[int, typer.Option(help="turns the configurations take")] = 4,
    concurrency: Annotated[int, typer.Option(help="clients at saturation")] = 8,
    rss_requests: Annotated[int, typer.Option(help="requests for the RSS check")] = 10_000,
    grid: Annotated[bool, typer.Option(help="workers x threads grid, spinning, batching")] = True,
    image: Annotated[Path | None, typer.Option(help="image for /classify (default grace_hopper.jpg)")] = None,
    large_image: Annotated[Path | None, typer.Option(help="the 1080p JPEG for the decode goal")] = None,
    out: Annotated[Path, typer.Option()] = PROJECT_ROOT / "artifacts" / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR")] = PROJECT_ROOT / "models",
) -> None:
    """Measure the server-speed goals (README Results) and write goals.json."""
    layout = ArtifactLayout(models_dir)
    manifest = Manifest.load(layout.manifest)
    picture = (image or default_image()).read_bytes()
    large = large_image or PROJECT_ROOT.parent / "shared" / "images" / "cat_1080p.jpg"
    inprocess = InProcess(layout, manifest)
    report: dict[str, Any] = {"machine": machine_info(), "concurrency": concurrency, "seconds": seconds}
    started = time.perf_counter()
    if large.exists():
        console.print("decode + preprocess, and by upload format")
        model_input = manifest.get(MODEL).input
        report["decode_preprocess"] = decode_preprocess(large, model_input, 300)
        report["decode_by_format"] = decode_by_format(large, model_input, budget_s=min(3.0, seconds / 5))
    with ExitStack() as servers:
        console.print("starting the servers")
        url, process = servers.enter_context(local_server(models_dir))
        floor_url = servers.enter_context(floor_server(models_dir))[0]
        configs = {DEFAULT: (url, process)}
        if grid:
            # each worker process gets its share of the cores for its core budget
            for workers, threads, spinning in [
                (1, CPU_COUNT, False),
                (CPU_COUNT, 1, False),
                (CPU_COUNT, CPU_COUNT, False),
                (1, CPU_COUNT, True),
            ]:
                env = {
                    "MVA_THREADS": str(threads),
                    "MVA_INFERENCE_CORES": str(max(1, CPU_COUNT // workers)),
                    "MVA_ORT_SPINNING": str(spinning).lower(),
                    "MVA_WARM_MODELS": '["mobilenet_v2"]',
                }
                name = grid_name(workers, threads, spinning)
                configs[name] = servers.enter_context(local_server(models_dir, env, workers=workers))
            # the default without uvloop and httptools: what they buy, at saturation and for 1 client
            plain = {"MVA_LOOP": "asyncio", "MVA_HTTP": "h11", "MVA_WARM_MODELS": '["mobilenet_v2"]'}
            configs[PLAIN] = servers.enter_context(local_server(models_dir, plain))
            # what the JSON access log costs (the container examples turn it on)
            logged = {"MVA_ACCESS_LOG": "true", "MVA_WARM_MODELS": '["mobilenet_v2"]'}
            configs[ACCESS_LOG] = servers.enter_context(local_server(models_dir, logged))
        console.print("HTTP overhead at default settings")
        report["http_overhead"] = http_overhead(
            url,
            floor_url,
            inprocess,
            manifest,
            picture,
            6,
            40,
            {name: configs[config][0] for name, config in VARIANTS.items()} if grid else None,
        )
        console.print(f"saturation: {len(configs)} server configurations and the engine, interleaved")
        measures = engine_measures(inprocess, manifest, picture)
        measures |= {name: http_measure(u, picture, concurrency) for name, (u, _) in configs.items()}
        cpu_windows: list[dict[str, float]] = []
        if Path("/proc").is_dir():
            measures[DEFAULT] = with_thread_cpu(measures[DEFAULT], process.pid, cpu_windows)
        loads = {name: summary(*r) for name, r in interleaved(measures, rounds, seconds).items()}
        for name, (_, server) in configs.items():  # after the load: what each configuration holds
            loads[name]["rss_mb"] = tree_rss_mb(server.pid)
        report["loads"] = loads
        best_engine = max((n for n in loads if n.startswith("engine")), key=lambda n: loads[n]["rps"])
        default = loads[DEFAULT]
        best_server = max(
            (n for n in loads if not n.startswith(("engine", "pipeline"))), key=lambda n: loads[n]["rps"]
        )
        pipeline = next(n for n in loads if n.startswith("pipeline"))
        report["saturation"] = {
            "default": default,
            "best_engine": best_engine,
            "default_vs_engine": round(default["rps"] / loads[best_engine]["rps"], 3),
            "best_server": best_server,
            "best_server_vs_engine": round(loads[best_server]["rps"] / loads[best_engine]["rps"], 3),
            "default_vs_pipeline": round(default["rps"] / loads[pipeline]["rps"], 3),
        }
        if cpu_windows:
            report["saturation"]["server_cpu"] = server_cpu(cpu_windows, loads[pipeline])
        console.print(f"RSS over {rss_requests} requests")
        report["rss"] = rss_over_requests(url, process.pid, picture, rss_requests, max(1, rss_requests // 10))
    console.print("int8 weights: unsigned vs signed")
    report["int8_weights"] = int8_weights(layout, manifest, picture)
    if grid:
        console.print("batching potential")
        report["batching"] = batching_potential(layout)
    report["auto_vs_bench"] = auto_vs_bench(layout, manifest, out / "bench.json")
    report["took_s"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "goals.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2, default=str))


BATCH_WINDOWS_MS = (0.0, 2.0, 5.0, 10.0)


def batching(
    seconds: Annotated[float, typer.Option(help="measured seconds per configuration")] = 20.0,
    rounds: Annotated[int, typer.Option(help="turns the configurations take")] = 4,
    concurrency: Annotated[int, typer.Option(help="clients")] = 8,
    threads: Annotated[int, typer.Option(help="intra-op threads per engine call")] = 1,
    image: Annotated[Path | None, typer.Option(help="image for /classify (default grace_hopper.jpg)")] = None,
    out: Annotated[Path, typer.Option()] = PROJECT_ROOT / "artifacts" / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR")] = PROJECT_ROOT / "models",
) -> None:
    """Micro-batching through the server: throughput and latency at windows 0 (off), 2, 5, 10 ms,
    the servers taking turns; writes batching-t<threads>.json."""
    picture = (image or default_image()).read_bytes()
    with ExitStack() as servers:
        urls = {}
        for window in BATCH_WINDOWS_MS:
            env = {"MVA_BATCH_WINDOW_MS": str(window), "MVA_THREADS": str(threads)}
            env["MVA_WARM_MODELS"] = '["mobilenet_v2"]'
            urls[f"window {window:g} ms"] = servers.enter_context(local_server(models_dir, env))[0]
        measures = {name: http_measure(url, picture, concurrency) for name, url in urls.items()}
        loads = {name: summary(*r) for name, r in interleaved(measures, rounds, seconds).items()}
        for name, url in urls.items():
            loads[name]["mean_batch"] = _mean_batch(url)
    report = {"machine": machine_info(), "concurrency": concurrency, "threads": threads, "loads": loads}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"batching-t{threads}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    typer.echo("| window | req/s | p50 ms | p99 ms | mean batch |\n|---|---:|---:|---:|---:|")
    for name, load in loads.items():
        batch = load["mean_batch"]
        typer.echo(f"| {name} | {load['rps']} | {load['p50_ms']} | {load['p99_ms']} | {batch or 1:.2f} |")


def _mean_batch(url: str) -> float | None:
    """From the server's mva_batch_size histogram (None when batching is off)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = dict(
        line.rsplit(" ", 1)
        for line in text.splitlines()
        if line.startswith(("mva_batch_size_sum", "mva_batch_size_count"))
    )
    count = float(values.get("mva_batch_size_count", 0))
    return round(float(values["mva_batch_size_sum"]) / count, 2) if count else None
