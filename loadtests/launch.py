"""Run locust headless on this locustfile: one process, or a master with N workers on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtests.report import RunReport, Summary, read_report, summary_path
from service.localserver import LOOPBACK, free_port

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
WORKER_EXIT_GRACE_S = 30.0
WORKER_TERM_WAIT_S = 10.0
# what a run writes next to <prefix>; removed first, so that a run that writes nothing (locust refused its
# arguments) cannot be reported with an earlier run's figures
REPORT_SUFFIXES = (
    "_summary.json",
    ".html",
    "_stats.csv",
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
)


@dataclass(frozen=True)
class Scenario:
    users: int = 8
    spawn_rate: float = 4.0
    run_time: str = "30s"
    max_fail_ratio: float = 0.01
    max_p95_ms: float | None = None
    images: Path | None = None
    extra: tuple[str, ...] = ()  # further locustfile options, e.g. ("--mva-engine", "litert")


@dataclass(frozen=True)
class LoadResult:
    exit_code: int
    prefix: Path  # <prefix>_summary.json, <prefix>_stats.csv, <prefix>_failures.csv, <prefix>.html
    report: RunReport

    @property
    def stats(self) -> dict[str, Summary]:
        return self.report.stats

    @property
    def total(self) -> Summary:
        return self.stats["Aggregated"]


def locust_command(host: str, scenario: Scenario, prefix: Path) -> list[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", host,
        "--users", str(scenario.users),
        "--spawn-rate", str(scenario.spawn_rate),
        "--run-time", scenario.run_time,
        "--stop-timeout", "10",
        "--csv", str(prefix),
        "--html", f"{prefix}.html",
        "--mva-max-fail-ratio", str(scenario.max_fail_ratio),
        "--mva-max-p95-ms", str(scenario.max_p95_ms or 0),
    ]  # fmt: skip
    if scenario.images is not None:
        command += ["--mva-images", str(scenario.images)]
    return command + list(scenario.extra)


def server_key_env() -> dict[str, str]:
    """For a server started here, which inherits MVA_API_KEY or MVA_API_KEY_FILE from this environment:
    the same key for locust (as its MVA_LOADTEST_* variables), unless locust was given one of its own."""
    if os.environ.get("MVA_LOADTEST_API_KEY") or os.environ.get("MVA_LOADTEST_API_KEY_FILE"):
        return {}
    if key := os.environ.get("MVA_API_KEY"):
        return {"MVA_LOADTEST_API_KEY": key}
    if key_file := os.environ.get("MVA_API_KEY_FILE"):
        return {"MVA_LOADTEST_API_KEY_FILE": key_file}
    return {}


def _workers(count: int, master_port: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    worker = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
        "--master-host", LOOPBACK, "--master-port", str(master_port),
    ]  # fmt: skip
    return [subprocess.Popen(worker, env=env, start_new_session=True) for _ in range(count)]


def _stop(processes: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    """Give each locust `grace_s` to end on its own, then SIGTERM (locust stops cleanly), then SIGKILL."""
    for process in processes:
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(WORKER_TERM_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_locust(
    host: str, scenario: Scenario, prefix: Path, workers: int = 0, env: dict[str, str] | None = None
) -> LoadResult:
    """Run the scenario against `host`; `workers` > 0 runs locust's distributed mode (master + workers);
    `env`: variables added to theirs (the environment keeps a key off the command line).
    The exit code is the master's: non-zero when the thresholds are not met."""
    locust_env = {**os.environ, **(env or {})}
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for suffix in REPORT_SUFFIXES:
        Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    command = locust_command(host, scenario, prefix)
    started: list[subprocess.Popen[bytes]] = []
    if workers:
        port = free_port()
        command += [
            "--master", "--master-bind-host", LOOPBACK, "--master-bind-port", str(port),
            "--expect-workers", str(workers), "--expect-workers-max-wait", "60",
        ]  # fmt: skip
        started = _workers(workers, port, locust_env)
    # Every locust in a session of its own, so that a Ctrl-C reaches this process alone: the master then
    # gets one SIGINT from here and is waited for while it writes its reports (subprocess.run killed it
    # 0.25 s after a Ctrl-C, mid-report), and the workers hear of it from the master.
    master = subprocess.Popen(command, env=locust_env, start_new_session=True)
    try:
        exit_code = master.wait()
    except KeyboardInterrupt:
        master.send_signal(signal.SIGINT)
        _stop([master], WORKER_EXIT_GRACE_S)
        raise
    finally:
        _stop([master], 0.0)  # a second Ctrl-C while the master wrote its reports
        # a master that reached its quitting event (it writes the summary there) told its workers to quit;
        # one that stopped before (it refused its options) told them nothing: they would wait for it
        _stop(started, WORKER_EXIT_GRACE_S if summary_path(prefix).exists() else 0.0)
    if not summary_path(prefix).exists():  # locust stopped before its quitting event (its output says why)
        problem = f"locust exited with code {exit_code} without writing {summary_path(prefix)}"
        return LoadResult(exit_code or 1, prefix, RunReport(stats={}, violations=[problem]))
    return LoadResult(exit_code=exit_code, prefix=prefix, report=read_report(prefix))
