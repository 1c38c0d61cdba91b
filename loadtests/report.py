"""Read the figures of a locust run back from the summary the locustfile writes when the run ends."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Summary:
    """One endpoint, or "Aggregated" for the whole run; times in ms. The percentiles are locust's, over
    every request, failed ones included (its stats log each request's time whether or not it failed)."""

    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def served_rps(self) -> float:
        """Right answers per second: locust's rps counts failed requests too, so a service that answers
        errors fast would look fast."""
        return self.rps * (self.requests - self.failures) / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "served_rps": self.served_rps}


@dataclass(frozen=True)
class RunReport:
    stats: dict[str, Summary]
    errors: list[dict[str, object]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    exceptions: list[dict[str, object]] = field(default_factory=list)  # raised in the locustfile
    # route -> stage -> {"count", "p50_ms", "p95_ms", "p99_ms"}: the server's own timing of right answers
    server_stages: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def summary_path(prefix: Path) -> Path:
    return Path(f"{prefix}_summary.json")


def read_report(prefix: Path) -> RunReport:
    data = json.loads(summary_path(prefix).read_text())
    stats = {entry["name"]: Summary(**entry) for entry in data["endpoints"]}
    return RunReport(
        stats=stats,
        errors=data["errors"],
        violations=data["violations"],
        exceptions=data.get("exceptions", []),
        server_stages=data.get("server_stages", {}),
    )
