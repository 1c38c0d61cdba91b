"""One scenario, several services: ours and each baseline in turn on a free loopback port, under the same
locust /classify load; throughput and p50/p99 side by side (markdown and JSON)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from rich.console import Console

from loadtests.images import image_paths
from loadtests.launch import LoadResult, Scenario, run_locust
from loadtests.server import LOOPBACK, free_port, running_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENTOML_VENV = PROJECT_ROOT / ".venv-baselines"
WARM_UP_REQUESTS = 10
# classification only: the baselines serve MobileNetV2 alone
CLASSIFY_ONLY = ("--mva-detect-weight", "0")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    command: tuple[str, ...]  # "{port}" is replaced by the port
    env: tuple[tuple[str, str], ...] = ()
    missing: str | None = None  # why it cannot run here


def targets(out: Path) -> list[Target]:
    bentoml = BENTOML_VENV / "bin" / "bentoml"
    return [
        Target(
            "ours",
            "this service, default settings (onnxruntime int8, 1 thread per request, 2 cores)",
            (sys.executable, "-m", "service", "serve", "--host", LOOPBACK, "--port", "{port}",
             "--log-level", "warning"),
        ),
        Target(
            "naive",
            "tutorial FastAPI: session.run inside async def, full-size decode, no limits",
            (sys.executable, "-m", "uvicorn", "loadtests.baselines.naive_app:app", "--host", LOOPBACK,
             "--port", "{port}", "--log-level", "warning"),
        ),
        Target(
            "bentoml",
            "BentoML 1.4 service (1 worker) around the same naive model code",
            (str(bentoml), "serve", "loadtests.baselines.bentoml_service:MobileNetV2", "--host", LOOPBACK,
             "--port", "{port}"),
            env=(("BENTOML_DO_NOT_TRACK", "true"), ("BENTOML_HOME", str(out / "bentoml-home"))),
            missing=None if bentoml.exists() else "its venv is missing: run `make baselines`",
        ),
    ]  # fmt: skip


def warm_up(url: str, image: Path) -> None:
    """First requests build sessions and caches in every framework; keep them out of the figures."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(WARM_UP_REQUESTS):
            client.post("/classify", files={"image": (image.name, image.read_bytes())}).raise_for_status()


def measure(target: Target, scenario: Scenario, out: Path) -> LoadResult:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [part.replace("{port}", str(port)) for part in target.command]
    with running_server(command, f"{url}/readyz", out / f"{target.name}-server.log", dict(target.env), 180,
                        PROJECT_ROOT):  # fmt: skip
        warm_up(url, image_paths(scenario.images)[0])
        return run_locust(url, scenario, out / target.name)


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| service | requests | failures | req/s | vs ours | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours = next((r["rps"] for r in rows if r["service"] == "ours"), None)
    for r in rows:
        if r.get("missing"):
            lines.append(f"| {r['service']} | not run: {r['missing']} | | | | | | |")
            continue
        ratio = f"{r['rps'] / ours:.2f}x" if ours else "-"
        lines.append(
            f"| {r['service']} | {r['requests']} | {r['failures']} | {r['rps']:.1f} | {ratio} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} |"
        )
    return "\n".join(lines)


def compare_targets(scenario: Scenario, out: Path, only: list[str] | None, console: Console) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scenario = replace(scenario, extra=CLASSIFY_ONLY + scenario.extra)
    rows: list[dict[str, object]] = []
    for target in targets(out):
        if only and target.name not in only:
            continue
        if target.missing:
            console.print(f"[yellow]{target.name}: not run, {target.missing}[/yellow]")
            rows.append({"service": target.name, "missing": target.missing})
            continue
        console.print(f"[bold]{target.name}[/bold]: {target.description}")
        result = measure(target, scenario, out)
        rows.append({"service": target.name, "description": target.description, **result.total.as_dict()})
    table = markdown(rows)
    console.print(table)
    (out / "compare.md").write_text(table + "\n")
    scenario_info = {
        "users": scenario.users,
        "spawn_rate": scenario.spawn_rate,
        "run_time": scenario.run_time,
        "endpoint": "/classify",
        "images": [p.name for p in image_paths(scenario.images)],
    }
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = {"scenario": scenario_info, "machine": machine, "finished": finished}
    (out / "compare.json").write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n")
    console.print(f"saved {out / 'compare.md'} and {out / 'compare.json'}")
