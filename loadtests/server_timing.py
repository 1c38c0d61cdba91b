"""The server's own figures under load: every answer's `timing` (receive, queue, decode, preprocess,
inference, postprocess, total), gathered per route into mergeable histograms, so a run says where the
time went on the server while locust only sees round trips: `queue` growing while `inference` stays
flat is a saturated server, not a slow model. In distributed mode each worker sends what it gathered
with its stats report and the master merges it."""

from __future__ import annotations

from collections.abc import Mapping

# route -> stage -> bucket -> count; buckets in tenths of a millisecond, coarser for longer times
# (as locust rounds its response times), so that histograms stay small and merge by adding counts
Histograms = dict[str, dict[str, dict[int, int]]]
QUANTILES = (50, 95, 99)


def bucket(ms: float) -> int:
    """ms -> tenths of a ms: exact to 0.1 ms below 10 ms, to 1 ms below 100, to 10 ms above."""
    if ms < 10:
        return round(ms * 10)
    if ms < 100:
        return round(ms) * 10
    return round(ms / 10) * 100


class StageTimes:
    def __init__(self) -> None:
        self.histograms: Histograms = {}

    def add(self, route: str, timing: object) -> None:
        """One answer's `timing` object; anything else (an error body, a baseline's answer) is skipped."""
        if not isinstance(timing, Mapping):
            return
        stages = self.histograms.setdefault(route, {})
        for stage, ms in timing.items():
            if isinstance(ms, int | float) and ms >= 0:
                counts = stages.setdefault(str(stage), {})
                key = bucket(float(ms))
                counts[key] = counts.get(key, 0) + 1

    def drain(self) -> Histograms:
        """What was gathered since the last drain (a worker's share of its next report)."""
        out, self.histograms = self.histograms, {}
        return out

    def merge(self, other: Mapping[str, Mapping[str, Mapping[int | str, int]]]) -> None:
        for route, stages in other.items():
            mine = self.histograms.setdefault(route, {})
            for stage, counts in stages.items():
                target = mine.setdefault(stage, {})
                for key, n in counts.items():
                    target[int(key)] = target.get(int(key), 0) + n

    def percentiles(self) -> dict[str, dict[str, dict[str, float]]]:
        """route -> stage -> {"count", "p50_ms", "p95_ms", "p99_ms"}."""
        return {
            route: {stage: _summary(counts) for stage, counts in stages.items() if counts}
            for route, stages in sorted(self.histograms.items())
        }


def _summary(counts: Mapping[int, int]) -> dict[str, float]:
    total = sum(counts.values())
    ordered = sorted(counts.items())
    out: dict[str, float] = {"count": total}
    for q in QUANTILES:
        rank = q / 100 * total
        seen = 0
        for key, n in ordered:
            seen += n
            if seen >= rank:
                out[f"p{q}_ms"] = key / 10
                break
    return out
