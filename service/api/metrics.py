"""Prometheus metrics, in a registry of the app's own. Label sets are bounded: route templates
(unmatched paths count as "other"), status codes, stages, manifest model names, two engines.

With several worker processes (`serve --workers N`) one scrape reaches one process, so each would show
its own share and a scraper would see counters jump between processes. There the metrics live in
prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, which `serve` sets up) and a scrape
sums every process's. Their files are named by the process's identity (pid and start time:
service/processes.py), not by its pid alone, so a dead process's live gauge is told from a later
process given its pid."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from service.processes import ProcessIdentity, own_identity, serving

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

if MULTIPROC_DIR in os.environ:
    # file-backed values, as prometheus_client picks when imported with the variable set, in files
    # named by identity (its hook for that, called on every update: own_identity and its name are
    # made once per process)
    values.ValueClass = values.MultiProcessValue(lambda: own_identity().name)

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        # prometheus_client picks file-backed values when it is imported with the variable set
        self.shared = MULTIPROC_DIR in os.environ
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mva_requests",
            "HTTP requests by route template and status",
            ["route", "status"],
            registry=self.registry,
        )
        # not in mva_requests: uvicorn answers them (service/api/malformed_http/), no route ever sees them
        self.malformed_requests = Counter(
            "mva_malformed_requests",
            "HTTP requests uvicorn could not parse, answered 400 bad_request before reaching the app",
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "mva_stage_seconds",
            "Time per pipeline stage",
            ["route", "stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.inferences = Counter(
            "mva_inferences", "Inferences by model and engine", ["model", "engine"], registry=self.registry
        )
        self.batch_size = Histogram(
            "mva_batch_size",
            "Images per engine call with micro-batching (MVA_BATCH_WINDOW_MS > 0 or MVA_BATCH_QUEUED)",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
            registry=self.registry,
        )
        self._depth = Gauge(
            "mva_queue_depth",
            "Requests admitted to inference (running or waiting)",
            registry=self.registry,
            multiprocess_mode="livesum",  # the processes' depths added up, of live processes only
        )
        # labels() looks its child up under a lock on every call; a request observes eight stages
        self._stage_children: dict[tuple[str, str], Histogram] = {}

    def queue_depth_changed(self, depth: int) -> None:
        """The pool's every change (InferencePool.pending_changed). With several processes a scrape reads
        the other processes' files, not their pools: written only when a request ended or a scrape came,
        the requests waiting behind a long one were missing from every scrape another process answered."""
        self._depth.set(depth)

    def count_request(self, route: str, status: int) -> None:
        self.requests.labels(route, str(status)).inc()

    def observe_timing(self, route: str, timing: dict[str, float]) -> None:
        children = self._stage_children
        for stage, ms in timing.items():
            child = children.get((route, stage))
            if child is None:
                child = children[(route, stage)] = self.stage_seconds.labels(route, stage)
            child.observe(ms / 1000.0)

    def render(self) -> bytes:
        if not self.shared:
            return generate_latest(self.registry)
        listed = Path(os.environ[MULTIPROC_DIR]).glob("*.db")
        every_process = CollectorRegistry()
        every_process.register(_EveryProcess(_forget_dead_processes(listed)))
        return generate_latest(every_process)

    def close(self) -> None:
        """This process stops: its live gauges leave the sum (its counters stay, as they should)."""
        if self.shared:
            _forget_live_gauges(Path(os.environ[MULTIPROC_DIR]), own_identity())


class _EveryProcess(Collector):
    """prometheus_client's multiprocess merge of a scrape's listing of the folder, without the files
    still empty: a process creates its file, then sizes it, and a scrape in between read 0 bytes
    (struct.error), which failed the whole scrape with a 500; a process killed in that window leaves
    such a file for good (prometheus/client_python#1199). A live gauge's file removed since the listing
    (its process stopped: close()) is skipped by the merge itself."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._files = files

    def collect(self) -> Iterable[Metric]:
        files = [str(path) for path in self._files if _size(path) > 0]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # a dead process's gauge file, removed since the listing
        return 0


def _forget_dead_processes(files: Iterable[Path]) -> list[Path]:
    """The scrape's listing without the live gauges (mva_queue_depth) of processes gone, whose files
    it removes. A process killed (SIGKILL, the OOM killer) never ran close(): its last queue depth
    would stay in the sum for good, however many processes uvicorn starts in its place. Its counters
    stay, as they should."""
    kept = []
    for path in files:
        process = _live_gauge_process(path)
        if process is not None and not serving(process):
            _forget_live_gauges(path.parent, process)
        else:
            kept.append(path)
    return kept


def _live_gauge_process(path: Path) -> ProcessIdentity | None:
    """The process whose live gauges `path` holds (gauge_live<mode>_<identity>.db), None for another
    file."""
    if not path.name.startswith("gauge_live"):
        return None
    return ProcessIdentity.from_name(path.stem.rpartition("_")[2])


def _forget_live_gauges(folder: Path, process: ProcessIdentity) -> None:
    """Removes the live-gauge files (gauge_live*) of `process`: its queue depth leaves the sum.
    Not prometheus_client's mark_process_dead: another scrape (two at once) may have removed a file
    first, and its os.remove failed the scrape; and it globs folder + name with glob.glob, which reads
    `[`, `*`, `?` in the folder's name as a pattern and found nothing there (Path.glob takes the folder
    as it is)."""
    for path in folder.glob(f"gauge_live*_{process.name}.db"):
        path.unlink(missing_ok=True)
