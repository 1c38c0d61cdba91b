"""One scenario, several services: ours and each baseline in turn on a free loopback port, under the same
locust /classify load; throughput and p50/p99 side by side (markdown and JSON)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.text import Text

from loadtests.apikey import api_key_headers
from loadtests.images import image_paths
from loadtests.launch import LoadResult, Scenario, run_locust, server_key_env
from service.artifacts import ArtifactLayout
from service.bench.files import write_texts
from service.client import client_for
from service.cpu import has_vnni
from service.engines.registry import onnx_file, resolve
from service.localserver import LOOPBACK, ServerDidNotStart, free_port, running_server
from service.manifest import Manifest
from service.settings import EngineSettings, ServerSettings
from service.turns import rotated

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENTOML_VENV = PROJECT_ROOT / ".venv-baselines"
WARM_UP_REQUESTS = 10
MODEL = "mobilenet_v2"  # the baselines serve it alone
# classification only: the baselines serve MobileNetV2 alone
CLASSIFY_ONLY = ("--mva-detect-weight", "0")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    command: tuple[str, ...]  # "{port}" is replaced by the port
    env: tuple[tuple[str, str], ...] = ()
    missing: str | None = None  # why it cannot run here


def plural(count: int | str, noun: str) -> str:
    return f"{count} {noun}" + ("" if str(count) == "1" else "s")


def ours_description(
    settings: ServerSettings, engine: EngineSettings, model_file: str, environ: Mapping[str, str]
) -> str:
    """What ours runs as compare starts it: `serve` with this environment's MVA_* settings (`engine`:
    their request defaults, resolved for the model) on `model_file`. It goes into compare.json beside
    the figures, so that a run with MVA_PRECISION=fp32, MVA_THREADS=2 or on another host says so."""
    if engine.engine == "onnxruntime":
        runs = f"onnxruntime {engine.precision} ({model_file})"
    else:  # LiteRT runs the tflite, with the kernels simd chose
        runs = f"litert {engine.precision} ({engine.kernels} kernels)"
    parts = [
        runs,
        f"{plural(engine.threads, 'thread')} per request",
        plural(settings.inference_cores, "inference core"),
        # serve's own option, read from the environment as the started `serve` reads it
        plural(environ.get("MVA_WORKERS") or 1, "uvicorn worker"),
    ]
    if settings.batch_window_ms > 0:
        parts.append(f"micro-batching ({settings.batch_window_ms:g} ms window, up to {settings.max_batch})")
    elif settings.batch_queued:
        parts.append(f"queued micro-batching (up to {settings.max_batch})")
    return f"this service: {', '.join(parts)}"


def targets(out: Path, vnni: bool | None = None) -> list[Target]:
    """`vnni`: whether the CPU has VNNI (None: this one's; see service/engines/int8_file.py)."""
    bentoml = BENTOML_VENV / "bin" / "bentoml"
    settings = ServerSettings()
    # one models folder for all three, ours' (MVA_MODELS_DIR); absolute, as they start from the project
    # root, which a relative MVA_MODELS_DIR given here is not relative to
    models_dir = settings.models_dir.resolve()
    # the baselines run the same ONNX file as ours does here: its precision (MVA_PRECISION, else the
    # model's own), int8-signed.onnx on a VNNI CPU where the build verified it
    layout = ArtifactLayout(models_dir)
    ours = resolve(Manifest.load(layout.manifest).get(MODEL), settings.default_engine_settings())
    assert ours.precision is not None  # resolve() fills it in
    cpu_vnni = has_vnni() if vnni is None else vnni
    model_file = onnx_file(layout, MODEL, ours.precision, settings.ort_int8_weights, cpu_vnni).name
    same_model = (("BASELINE_MODELS_DIR", str(models_dir)), ("BASELINE_ONNX_FILE", model_file))
    # LiteRT runs the original tflite, which the baselines (onnxruntime) cannot
    other_engine = "ours runs LiteRT here (MVA_ENGINE=litert): the baselines run ONNX files only"
    baseline_missing = None if ours.engine == "onnxruntime" else other_engine
    no_venv = None if bentoml.exists() else "its venv is missing: run `make baselines`"
    return [
        Target(
            "ours",
            ours_description(settings, ours, model_file, os.environ),
            (sys.executable, "-m", "service", "serve", "--host", LOOPBACK, "--port", "{port}",
             "--log-level", "warning"),
            env=(("MVA_MODELS_DIR", str(models_dir)),),
        ),
        Target(
            "naive",
            "tutorial FastAPI: session.run inside async def, full-size decode, no limits",
            (sys.executable, "-m", "uvicorn", "loadtests.baselines.naive_app:app", "--host", LOOPBACK,
             "--port", "{port}", "--log-level", "warning"),
            env=same_model,
            missing=baseline_missing,
        ),
        Target(
            "bentoml",
            "BentoML 1.4 service (1 worker) around the same naive model code",
            (str(bentoml), "serve", "loadtests.baselines.bentoml_service:MobileNetV2", "--host", LOOPBACK,
             "--port", "{port}"),
            env=(("BENTOML_DO_NOT_TRACK", "true"), ("BENTOML_HOME", str(out / "bentoml-home")), *same_model),
            missing=baseline_missing or no_venv,
        ),
    ]  # fmt: skip


class UnknownService(ValueError):
    pass


class NotTheSameModel(ValueError):
    pass


# locustfile options (query parameters) that would move ours to another model file or engine per
# request, where the baselines cannot follow; threads is a serving lever and stays allowed
MODEL_OPTIONS = ("engine", "precision", "simd", "kernels", "preset")


def model_option(arg: str) -> str | None:
    """The model option `arg` names as locust reads it, None for any other. Locust's parser takes any
    unambiguous prefix of an option (argparse's allow_abbrev): --mva-prec fp32 and --mva-eng=litert are
    --mva-precision and --mva-engine. A --mva- prefix of several (--mva-p: precision or preset) locust
    refuses as ambiguous; here it is the first of them, refused already, before any service starts."""
    spelled = arg.split("=", 1)[0]
    if not spelled.startswith("--mva-"):
        return None
    # no other --mva-* option is a prefix of a model option's name (an exact name would win in argparse):
    # tests/loadtests/test_compare.py holds this to locust's own parser
    return next((f"--mva-{name}" for name in MODEL_OPTIONS if f"--mva-{name}".startswith(spelled)), None)


def check_same_model(extra: Sequence[str], environ: Mapping[str, str]) -> None:
    """Refuse --mva-precision fp32 and the like, in any spelling locust takes (--mva-prec fp32), or their
    MVA_LOADTEST_* variables: ours would run another file than the one the baselines are told.
    MVA_PRECISION, ours' own default, they follow."""
    given = [
        spelled if spelled == option else f"{spelled} ({option})"
        for spelled, option in ((arg.split("=", 1)[0], model_option(arg)) for arg in extra)
        if option is not None
    ]
    given += [
        f"MVA_LOADTEST_{name.upper()}"
        for name in MODEL_OPTIONS
        if environ.get(f"MVA_LOADTEST_{name.upper()}")
    ]
    if given:
        raise NotTheSameModel(
            f"compare runs every service on the same model file: {', '.join(given)} would change ours' alone"
            " (set MVA_PRECISION for all of them)"
        )


def chosen_targets(out: Path, only: list[str] | None) -> list[Target]:
    """The targets `only` names, all when it names none. A name that is no target is an error: ignored,
    a typo (--only bento) would run nothing and write an empty table over the last compare.{md,json}."""
    available = targets(out)
    names = [t.name for t in available]
    unknown = [name for name in only or () if name not in names]
    if unknown:
        raise UnknownService(f"no service named {', '.join(unknown)}: choose from {', '.join(names)}")
    return [t for t in available if not only or t.name in only]


class WarmUpFailed(RuntimeError):
    pass


def warm_up(url: str, image: Path) -> None:
    """First requests build sessions and caches in every framework; keep them out of the figures.
    With MVA_API_KEY set, ours inherits it: its key goes along (the baselines ignore it).
    An error answer or no answer is WarmUpFailed, in one line."""
    env = {**os.environ, **server_key_env()}  # what the locustfile sends, by its MVA_LOADTEST_* defaults
    headers = api_key_headers(env.get("MVA_LOADTEST_API_KEY"), env.get("MVA_LOADTEST_API_KEY_FILE"))
    with client_for(url, timeout=60, headers=headers) as client:
        try:
            for _ in range(WARM_UP_REQUESTS):
                client.post("/classify", files={"image": (image.name, image.read_bytes())}).raise_for_status()
        except httpx.HTTPStatusError as exc:
            answer = exc.response
            raise WarmUpFailed(
                f"warm-up: HTTP {answer.status_code} {answer.reason_phrase} from /classify"
            ) from exc
        except httpx.HTTPError as exc:  # no answer: refused, reset, timed out
            raise WarmUpFailed(f"warm-up: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc


@contextmanager
def started(target: Target, out: Path) -> Iterator[str]:
    """The service on a free loopback port until the block ends (its log: out/<name>-server.log); yields
    its URL once /readyz answers."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [part.replace("{port}", str(port)) for part in target.command]
    log = out / f"{target.name}-server.log"
    with running_server(command, f"{url}/readyz", log, dict(target.env), 180, PROJECT_ROOT):
        yield url


def measure(target: Target, scenario: Scenario, out: Path) -> LoadResult:
    with started(target, out) as url:
        warm_up(url, image_paths(scenario.images)[0])
        return run_locust(url, scenario, out / target.name, env=server_key_env())


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per service and round. "served/s" counts right answers only (locust's req/s counts
    failures too: a service answering fast errors would look fast); "vs ours" divides it by ours in the
    same round (background load drifts between rounds on a shared machine). The percentiles are
    locust's, over all requests: it records a failed request's time like any other and gives none of
    right answers alone, so their headers say "(all)"."""
    lines = [
        "| round | service | requests | failures | served/s | vs ours | p50 ms (all) | p95 ms (all) "
        "| p99 ms (all) | load 1m |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours = {r["round"]: r["served_rps"] for r in rows if r["service"] == "ours" and "served_rps" in r}
    for r in rows:
        if "served_rps" not in r:
            lines.append(f"| {r['round']} | {r['service']} | not run: {r['missing']} | | | | | | | |")
            continue
        ratio = f"{r['served_rps'] / ours[r['round']]:.2f}x" if ours.get(r["round"]) else "-"
        lines.append(
            f"| {r['round']} | {r['service']} | {r['requests']} | {r['failures']} | {r['served_rps']:.1f} "
            f"| {ratio} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['load_1m']:.1f} |"
        )
    return "\n".join(lines)


def measure_row(target: Target, scenario: Scenario, out: Path, round_: int) -> dict[str, Any]:
    row: dict[str, Any] = {"round": round_, "service": target.name}
    if target.missing:
        return {**row, "missing": target.missing}
    load_1m = os.getloadavg()[0]  # what else the machine was doing when this one started
    # a service that is there but could not be measured: its row says why, the others still run, and
    # the command ends non-zero (one not installed here, `missing` above, is no failure)
    failed = {**row, "failed": True}
    try:
        result = measure(target, scenario, out / f"round{round_}")
    except ServerDidNotStart as exc:
        return {**failed, "missing": f"did not start: {exc}"}
    except WarmUpFailed as exc:
        return {**failed, "missing": str(exc)}
    if "Aggregated" not in result.stats:  # locust itself did not run
        return {**failed, "missing": "; ".join(result.report.violations)}
    return {**row, "description": target.description, "load_1m": load_1m, **result.total.as_dict()}


def schedule(chosen: list[T], rounds: int) -> list[tuple[int, T]]:
    """(round, service) in the order they run: every service once a round, so that drifting background
    load hits all alike, the order shifting by one each round so that none always goes first."""
    return [(round_, target) for round_ in range(1, rounds + 1) for target in rotated(chosen, round_ - 1)]


def compare_targets(
    scenario: Scenario, out: Path, chosen: list[Target], rounds: int, console: Console
) -> list[dict[str, Any]]:
    """Measure, print and save the rows (compare.md, compare.json); returns them."""
    out.mkdir(parents=True, exist_ok=True)
    scenario = replace(scenario, extra=CLASSIFY_ONLY + scenario.extra)
    rows: list[dict[str, Any]] = []
    for round_, target in schedule(chosen, rounds):
        console.print(Text.assemble((f"round {round_}, {target.name}", "bold"), f": {target.description}"))
        rows.append(measure_row(target, scenario, out, round_))
    table = markdown(rows)
    console.print(table, soft_wrap=True)
    scenario_info = {
        "users": scenario.users,
        "spawn_rate": scenario.spawn_rate,
        "run_time": scenario.run_time,
        "rounds": rounds,
        "endpoint": "/classify",
        "images": [p.name for p in image_paths(scenario.images)],
    }
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = {"scenario": scenario_info, "machine": machine, "finished": finished}
    document = json.dumps({**meta, "results": rows}, indent=2) + "\n"
    write_texts(out, {"compare.md": table + "\n", "compare.json": document})  # whole, and of one run
    console.print(f"saved {out / 'compare.md'} and {out / 'compare.json'}")
    return rows
