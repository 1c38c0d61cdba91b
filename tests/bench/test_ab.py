"""`mobile-vision-api bench-ab` for real, CI-sized: the default server, the same with another event loop
and HTTP parser, and the code of a git revision, side by side; what each server says it runs, and the
figures of each."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import typer
from typer.testing import CliRunner

from service.artifacts import ArtifactLayout
from service.bench.ab import Variant, parse_env, parse_variant
from service.cli import app
from service.settings import PROJECT_ROOT
from tests.conftest import PREVIOUS_REPORT, hold_previous, kill_leftovers


def test_a_variant_is_a_name_and_its_environment() -> None:
    assert parse_variant("default") == Variant("default")
    assert parse_variant("h11:MVA_LOOP=asyncio,MVA_HTTP=h11") == Variant(
        "h11", {"MVA_LOOP": "asyncio", "MVA_HTTP": "h11"}
    )
    assert parse_variant('w:MVA_WARM_MODELS=["a"]').env == {"MVA_WARM_MODELS": '["a"]'}
    assert parse_variant("empty:MVA_API_KEY=").env == {"MVA_API_KEY": ""}
    # a comma not followed by KEY= is part of the value
    assert parse_variant('all:MVA_WARM_MODELS=["a","b"],MVA_THREADS=2').env == {
        "MVA_WARM_MODELS": '["a","b"]',
        "MVA_THREADS": "2",
    }
    for bad in (":MVA_LOOP=asyncio", "x:MVA_LOOP", "x:1X=2", "x:=2"):
        with pytest.raises(typer.BadParameter):
            parse_variant(bad)
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(typer.BadParameter, match="'A' is not KEY=VALUE"):
        parse_env(["A"])


def test_one_variant_or_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench-ab", "--variant", "alone", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "two variants or more" in result.output
    assert not (tmp_path / "ab.json").exists()
    result = CliRunner().invoke(app, ["bench-ab", "--rev", "no-such-revision", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "no-such-revision" in result.output


@pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="not a git checkout")
def test_bench_ab_times_settings_and_a_revision_side_by_side(tmp_path: Path, layout: ArtifactLayout) -> None:
    args = ["bench-ab", "--variant", "default", "--variant", "h11:MVA_LOOP=asyncio,MVA_HTTP=h11"]
    args += [
        "--rev",
        "HEAD",
        "--env",
        "MVA_THREADS=2",
        "--replicas",
        "1",
        "--rounds",
        "2",
        "--per-round",
        "5",
    ]
    args += ["--load-seconds", "1", "--concurrency", "2"]
    args += ["--out", str(tmp_path), "--models-dir", str(layout.root)]
    held = hold_previous(tmp_path / "ab.json")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ab.json").read_text())
    assert held.read_text() == PREVIOUS_REPORT  # replaced whole, not rewritten where it was read
    assert report["reference"] == "default"
    assert report["env"]["MVA_THREADS"] == "2"
    variants = report["variants"]
    assert list(variants) == ["default", "h11", "rev HEAD"]
    # the settings reached the servers: each names the loop it runs on
    assert variants["default"]["event_loop"] == "uvloop.Loop"
    assert variants["h11"]["event_loop"].startswith("asyncio.")
    assert variants["h11"]["env"] == {"MVA_LOOP": "asyncio", "MVA_HTTP": "h11"}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert variants["rev HEAD"]["code"] == {"commit": head.stdout.strip(), "changed": False}
    assert variants["default"]["code"]["commit"] == head.stdout.strip()
    for variant in variants.values():
        assert variant["one_client"]["runs"] == 10  # 2 turns x 5 requests, 1 server
        assert 0 < variant["one_client"]["p50_ms"] < 1000
        assert variant["load"]["ok"] > 0 and variant["load"]["failures"] == {}
        assert 0 <= variant["load"]["bench_process_cores"] <= 2  # the load generator's own share
        assert variant["defaults"]["threads"] == 2  # --env reached every server, the revision's too
    for name in variants:
        assert f"| {name} |" in result.stdout
    assert "| default | " in result.stdout and "+0.000 ms" in result.stdout
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert "mobile-vision-api-" not in worktrees.stdout  # the revision's checkout is gone


def test_a_sigterm_stops_the_servers_it_started(tmp_path: Path) -> None:
    """bench-ab (like every bench command) starts its servers in process groups of their own and stops
    them in `finally`; a SIGTERM (a CI job's timeout, `kill`) ended it at once and left them serving."""
    command = [
        sys.executable, "-m", "service", "bench-ab", "--variant", "a", "--variant", "b", "--replicas", "1",
        "--rounds", "1000", "--load-seconds", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True)
    servers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180  # a guard against a hang, not a speed check
        while run.poll() is None and len(servers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            servers = [p for p in psutil.Process(run.pid).children(recursive=True) if "serve" in p.cmdline()]
        assert len(servers) == 2, "bench-ab did not start its two servers"
        run.send_signal(signal.SIGTERM)  # to bench-ab alone, as `kill` does
        assert run.wait(120) == 130  # "interrupted", as its --help says
        assert [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        kill_leftovers(run, servers)
