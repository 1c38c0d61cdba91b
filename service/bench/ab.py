"""`mobile-vision-api bench-ab`: server variants that differ in settings (environment variables) or in
code (`--rev`: another git revision), timed side by side in one run so that drift on a shared host hits
all of them alike: the default request from 1 client (blocks of requests, the servers taking turns)
and closed-loop load (taking turns). Each variant runs as `replicas` servers whose samples are pooled,
as one server's place in memory and on the cores can bias it. The first variant is the reference of
the differences. Writes ab.json."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from service.bench.checkout import CheckoutFailed, checkout, resolve, working_tree
from service.bench.command import default_image
from service.bench.failures import exits_when_a_measurement_fails
from service.bench.files import write_texts
from service.bench.http import get_ok, local_server
from service.bench.load import LoadResult
from service.bench.machine import machine_info
from service.bench.options import EXISTING_FILE, MODELS_DIR, models_folder
from service.bench.overhead import default_request
from service.bench.saturation import http_measure, interleaved, summary
from service.bench.stats import Stats
from service.localserver import exits_when_a_server_does_not_start
from service.settings import PROJECT_ROOT
from service.timing import time_call
from service.turns import in_turns

console = Console(stderr=True)
WARM = '["mobilenet_v2"]'  # what the default request uses; a variant's own MVA_WARM_MODELS wins
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PAIR_START = re.compile(_ENV_NAME.pattern + "=")


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    rev: str | None = None  # a commit id: that revision's code instead of this tree's


def parse_variant(text: str) -> Variant:
    """`NAME` (the default settings) or `NAME:KEY=VALUE,KEY=VALUE` (environment of its servers)."""
    name, _, pairs = text.partition(":")
    if not name.strip():
        raise typer.BadParameter(f"{text!r} has no name: NAME or NAME:KEY=VALUE,...")
    return Variant(name.strip(), parse_env(_split_pairs(pairs), text))


def _split_pairs(text: str) -> list[str]:
    """KEY=VALUE,KEY=VALUE; a comma not followed by KEY= belongs to the value (a JSON list)."""
    pairs: list[str] = []
    for piece in text.split(","):
        if pairs and not _PAIR_START.match(piece):
            pairs[-1] += "," + piece
        elif piece:
            pairs.append(piece)
    return pairs


def parse_env(pairs: Iterable[str], where: str = "") -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not _ENV_NAME.fullmatch(key):
            raise typer.BadParameter(f"{pair!r}{f' in {where!r}' if where else ''} is not KEY=VALUE")
        env[key] = value
    return env


@exits_when_a_server_does_not_start
@exits_when_a_measurement_fails
def ab(
    variant: Annotated[
        list[str] | None,
        typer.Option(help="NAME or NAME:KEY=VALUE,... (repeat); the first is the reference"),
    ] = None,
    rev: Annotated[
        list[str] | None, typer.Option(help="also serve this git revision's code, default settings (repeat)")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE for every server, --rev ones too (repeat)")
    ] = None,
    replicas: Annotated[int, typer.Option(min=1, help="servers per variant")] = 2,
    rounds: Annotated[int, typer.Option(min=1, help="turns the servers take")] = 6,
    per_round: Annotated[int, typer.Option(min=1, help="1-client requests per server and turn")] = 40,
    load_seconds: Annotated[
        float, typer.Option(min=0, help="seconds of load per server in all (0: 1 client only)")
    ] = 12.0,
    concurrency: Annotated[int, typer.Option(min=1, help="clients under load")] = 8,
    image: Annotated[
        Path | None, typer.Option(help="image for /classify (default grace_hopper.jpg)", **EXISTING_FILE)
    ] = None,
    out: Annotated[Path, typer.Option()] = PROJECT_ROOT / "artifacts" / "bench",
    models_dir: Annotated[Path, typer.Option(envvar="MVA_MODELS_DIR", callback=models_folder)] = MODELS_DIR,
) -> None:
    """Time server variants side by side (settings, or code with --rev): 1 client and under load."""
    variants = [parse_variant(v) for v in variant or ([] if not rev else ["this tree"])]
    try:
        variants += [Variant(f"rev {r}", rev=resolve(r)) for r in rev or []]
    except CheckoutFailed as exc:
        raise typer.BadParameter(str(exc), param_hint="--rev") from exc
    if len(variants) < 2 or len({v.name for v in variants}) < len(variants):
        raise typer.BadParameter("name two variants or more, each once (--variant, --rev)")
    common = {"MVA_WARM_MODELS": WARM} | parse_env(env or [])
    machine = machine_info()  # at the start, as the other bench commands take it
    picture = (image or default_image()).read_bytes()
    with ExitStack() as stack:
        trees = {v.rev: stack.enter_context(checkout(v.rev)) for v in variants if v.rev}
        servers: dict[str, tuple[Variant, str]] = {}
        for replica in range(replicas):
            for v in variants:
                console.print(f"starting {v.name} #{replica + 1}")
                tree = trees[v.rev] if v.rev else None
                url = stack.enter_context(local_server(models_dir, common | v.env, tree=tree))[0]
                servers[f"{v.name} #{replica + 1}"] = (v, url)
        described = {v.name: _describe(v, next(u for w, u in servers.values() if w == v)) for v in variants}
        console.print(f"1 client: {rounds} turns of {per_round} requests per server")
        one_client = _one_client(servers, picture, rounds, per_round)
        loads: dict[str, list[tuple[LoadResult, float]]] = {}
        if load_seconds > 0:
            console.print(f"{concurrency} clients: {rounds} turns, {load_seconds:g} s per server in all")
            measures = {name: http_measure(url, picture, concurrency) for name, (_, url) in servers.items()}
            for name, measured in interleaved(measures, rounds, load_seconds).items():
                loads.setdefault(servers[name][0].name, []).append(measured)
    report: dict[str, Any] = {"machine": machine, "reference": variants[0].name, "variants": {}}
    report |= {"env": common, "replicas": replicas, "concurrency": concurrency}
    for v in variants:
        entry = described[v.name] | {"one_client": asdict(Stats.of(one_client[v.name]))}
        if v.name in loads:  # the replicas' windows are of equal length: the cores' mean is the whole's
            results, cores = zip(*loads[v.name], strict=True)
            entry["load"] = summary(LoadResult.combine(list(results)), round(sum(cores) / len(cores), 2))
        report["variants"][v.name] = entry
    write_texts(out, {"ab.json": json.dumps(report, indent=2, default=str) + "\n"})
    typer.echo(table(report))


def _describe(v: Variant, url: str) -> dict[str, Any]:
    """What the variant is, and what its server says it runs (its loop, its default settings)."""
    models = get_ok(f"{url}/v1/models", timeout=30).json()
    code = {"commit": v.rev, "changed": False} if v.rev else working_tree()
    defaults = models["settings"]["defaults"]
    return {"env": v.env, "code": code, "event_loop": models["event_loop"], "defaults": defaults}


def _one_client(
    servers: dict[str, tuple[Variant, str]], image: bytes, rounds: int, per_round: int
) -> dict[str, list[float]]:
    """The default request (lean client), `per_round` at a time, the servers taking turns; ms by variant."""
    calls = {name: partial(time_call, default_request(url, image)) for name, (_, url) in servers.items()}
    samples: dict[str, list[float]] = {}
    for name, times in in_turns(calls, rounds, per_round).items():  # a variant's replicas together
        samples.setdefault(servers[name][0].name, []).extend(times)
    return samples


def table(report: dict[str, Any]) -> str:
    """Markdown: each variant's 1-client p50 and load figures, with the difference from the reference."""
    variants = report["variants"]
    ref = variants[report["reference"]]
    rows = ["| variant | 1 client p50 ms | vs first | req/s | vs first | p50 ms | p99 ms |"]
    rows.append("|---|" + "---:|" * 6)
    for name, v in variants.items():
        p50 = v["one_client"]["p50_ms"]
        cells = [name, f"{p50:.3f}", f"{p50 - ref['one_client']['p50_ms']:+.3f} ms"]
        if "load" in v:
            rps = v["load"]["rps"]
            cells += [f"{rps:.1f}", f"{rps / ref['load']['rps']:.3f}x", f"{v['load']['p50_ms']:.1f}"]
            cells.append(f"{v['load']['p99_ms']:.1f}")
        else:
            cells += [""] * 4
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
