"""Prometheus metrics, in a registry of the app's own. Label sets are bounded: route templates
(unmatched paths count as "other"), status codes, stages, manifest model names, two engines."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mva_requests",
            "HTTP requests by route template and status",
            ["route", "status"],
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
            "Images per engine call with micro-batching (MVA_BATCH_WINDOW_MS > 0)",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
            registry=self.registry,
        )
        depth = Gauge(
            "mva_queue_depth", "Requests admitted to inference (running or waiting)", registry=self.registry
        )
        depth.set_function(queue_depth)
        # labels() looks its child up under a lock on every call; a request observes eight stages
        self._stage_children: dict[tuple[str, str], Histogram] = {}

    def observe_timing(self, route: str, timing: dict[str, float]) -> None:
        children = self._stage_children
        for stage, ms in timing.items():
            child = children.get((route, stage))
            if child is None:
                child = children[(route, stage)] = self.stage_seconds.labels(route, stage)
            child.observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
