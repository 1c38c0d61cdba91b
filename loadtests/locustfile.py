"""Locust users that POST real pictures to /classify and /detect and check every answer's content.

Run it with `python -m loadtests.run` (or `make loadtest`), or with locust directly:
    locust -f loadtests/locustfile.py --headless -u 8 -r 4 -t 30s --host http://127.0.0.1:8000
Every option below is also an environment variable (MVA_LOADTEST_*), so a compose file can set them;
in distributed mode the master forwards them to its workers.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, TaskSet, between, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

# locust puts only this folder on sys.path; the helpers are imported as the `loadtests` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.apikey import api_key_headers
from loadtests.expectations import Expected, answer_for, check_classify, check_detect, load_answers
from loadtests.images import UploadImage, image_paths, load_uploads
from loadtests.server_timing import StageTimes
from loadtests.slow_requests import SlowRequests
from loadtests.thresholds import EndpointLatency, RunTotals, Thresholds, violations

log = logging.getLogger("loadtest")

# a body and the known answer for its picture -> why the body is wrong, or None
Checker = Callable[[Any, Expected | None], str | None]
ENGINE_OPTIONS = ("engine", "precision", "simd", "threads", "kernels", "preset")
# the server's stage figures from every right answer (this process's; the master's also the workers')
SERVER_STAGES = StageTimes()
# per endpoint, the requests slower than the p95 limit (this process's; the master's also the workers')
SLOW_REQUESTS = SlowRequests()


@events.report_to_master.add_listener
def _send_figures(client_id: str, data: dict[str, Any]) -> None:
    data["mva_server_stages"] = SERVER_STAGES.drain()
    data["mva_slow_requests"] = SLOW_REQUESTS.drain()


@events.worker_report.add_listener
def _merge_figures(client_id: str, data: dict[str, Any]) -> None:
    SERVER_STAGES.merge(data.get("mva_server_stages", {}))
    SLOW_REQUESTS.merge(data.get("mva_slow_requests", {}))


@events.init.add_listener
def _count_slow_requests(environment: Environment, **_: Any) -> None:
    """Each request's exact time against the p95 limit, which locust's rounded times cannot decide.
    The limit is read per request: a worker gets it from the master when it spawns its users."""

    def count(name: str, response_time: float | None, **_: Any) -> None:
        options = environment.parsed_options
        limit = options.mva_max_p95_ms if options is not None else 0.0
        if limit and response_time is not None:
            SLOW_REQUESTS.add(name, response_time, limit)

    environment.events.request.add_listener(count)


@events.init_command_line_parser.add_listener
def _options(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("mobile-vision-api")
    group.add_argument("--mva-images", env_var="MVA_LOADTEST_IMAGES", default="", help="folder of images")
    group.add_argument(
        "--mva-answers",
        env_var="MVA_LOADTEST_ANSWERS",
        default="",
        help='JSON file of known answers by file name: {"x.jpg": {"label": "...", "faces": {"short": 1}}}',
    )
    group.add_argument("--mva-classify-weight", env_var="MVA_LOADTEST_CLASSIFY_WEIGHT", type=int, default=3)
    group.add_argument("--mva-detect-weight", env_var="MVA_LOADTEST_DETECT_WEIGHT", type=int, default=1)
    group.add_argument("--mva-detector", env_var="MVA_LOADTEST_DETECTOR", default="short", help="short|full")
    for name in ENGINE_OPTIONS:
        only = " (/classify only: BlazeFace has fp32 alone)" if name == "precision" else ""
        group.add_argument(
            f"--mva-{name}",
            env_var=f"MVA_LOADTEST_{name.upper()}",
            default="",
            help=f"{name} query parameter (empty: the server's default){only}",
        )
    group.add_argument(
        "--mva-overload-ok",
        env_var="MVA_LOADTEST_OVERLOAD_OK",
        action="store_true",
        help="overload test: a 503 'overloaded' with Retry-After is a right answer (row '<route> [503]')",
    )
    group.add_argument(
        "--mva-max-fail-ratio", env_var="MVA_LOADTEST_MAX_FAIL_RATIO", type=float, default=0.01
    )
    # on the parser: only its add_argument knows is_secret (a masked field in the web UI)
    parser.add_argument(
        "--mva-api-key",
        env_var="MVA_LOADTEST_API_KEY",
        default="",
        is_secret=True,
        help="sent as X-API-Key (empty: none; the server's MVA_API_KEY)",
    )
    group.add_argument(
        "--mva-api-key-file",
        env_var="MVA_LOADTEST_API_KEY_FILE",
        default="",
        help="a file holding the key to send (the compose secret); used when --mva-api-key is empty",
    )
    group.add_argument(
        "--mva-max-p95-ms", env_var="MVA_LOADTEST_MAX_P95_MS", type=float, default=0.0, help="0: no limit"
    )


def _thresholds(options: Namespace) -> Thresholds:
    return Thresholds(max_fail_ratio=options.mva_max_fail_ratio, max_p95_ms=options.mva_max_p95_ms or None)


def _entry(entry: StatsEntry, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "rps": entry.total_rps,
        **{f"p{q}_ms": entry.get_response_time_percentile(q / 100) or 0.0 for q in (50, 95, 99)},
    }


def write_summary(environment: Environment, path: Path, problems: list[str]) -> None:
    """The final figures (the CSV files are written on a timer and can miss the last requests)."""
    stats = environment.stats
    summary = {
        "endpoints": [_entry(e, e.name) for e in sorted(stats.entries.values(), key=lambda e: e.name)]
        + [_entry(stats.total, "Aggregated")],
        "errors": [
            {"name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
        "violations": problems,
        # exceptions in the locustfile (no images, an unreadable key file...): locust exits 1 on them, and
        # without them a run with no requests would not say why
        "exceptions": [
            {"error": e["msg"], "occurrences": e["count"], "traceback": e["traceback"]}
            for e in (environment.runner.exceptions.values() if environment.runner else ())
        ],
        "server_stages": SERVER_STAGES.percentiles(),
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")


@events.quitting.add_listener
def _apply_thresholds(environment: Environment, **_: Any) -> None:
    """Exit code of the run, and its summary next to the CSV files (on the master or a standalone
    runner: workers hold no totals)."""
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or options is None:
        return
    total = environment.stats.total
    endpoints = {
        e.name: EndpointLatency(
            e.num_requests, SLOW_REQUESTS.counts.get(e.name, 0), e.get_response_time_percentile(0.95) or 0.0
        )
        for e in environment.stats.entries.values()
        if e.num_requests
    }
    totals = RunTotals(total.num_requests, total.num_failures, endpoints)
    problems = violations(totals, _thresholds(options))
    for problem in problems:
        log.error("threshold not met: %s", problem)
    if options.csv_prefix:
        write_summary(environment, Path(f"{options.csv_prefix}_summary.json"), problems)
    if problems:
        environment.process_exit_code = 1
    elif environment.runner is not None and not environment.runner.exceptions:
        # failures within the allowed ratio must not fail the run (locust's default exits 1 on any)
        environment.process_exit_code = 0


_uploads: dict[str, list[UploadImage]] = {}


def uploads_for(folder: str) -> list[UploadImage]:
    """Images are read and multipart-encoded once per process, not per user."""
    if folder not in _uploads:
        _uploads[folder] = load_uploads(image_paths(folder or None))
        log.info("images: %s", ", ".join(u.name for u in _uploads[folder]))
    return _uploads[folder]


def _is_overload_refusal(response: Any) -> bool:
    """The service's documented answer to overload: 503, Retry-After, error code 'overloaded'."""
    if response.status_code != 503 or not response.headers.get("Retry-After"):
        return False
    try:
        return json.loads(response.content)["error"]["code"] == "overloaded"
    except (ValueError, KeyError, TypeError):
        return False


class VisionUser(FastHttpUser):
    """One client sending pictures back to back (a short think time keeps users out of lock-step)."""

    wait_time = between(0.0, 0.01)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        # locust prepends the host as given: with a trailing slash every request would go to //classify
        if self.client.base_url:
            self.client.base_url = self.client.base_url.rstrip("/")
        self.uploads = uploads_for(options.mva_images)
        self.answers: dict[str, Expected] = load_answers(options.mva_answers or None)
        self.detector: str = options.mva_detector
        self.overload_ok: bool = options.mva_overload_ok
        self.auth = api_key_headers(options.mva_api_key, options.mva_api_key_file)
        self.query = {name: getattr(options, f"mva_{name}") for name in ENGINE_OPTIONS}
        self.query = {k: v for k, v in self.query.items() if v != ""}
        # locust picks the next task at random from this list: repeats are weights
        tasks: list[TaskSet | Callable[..., Any]] = [VisionUser.classify] * options.mva_classify_weight
        self.tasks = tasks + [VisionUser.detect] * options.mva_detect_weight

    def _post(self, path: str, params: dict[str, str], check: Checker) -> None:
        upload = random.choice(self.uploads)
        query = urlencode(params)
        with self.client.post(
            f"{path}?{query}" if query else path,
            data=upload.body,  # type: ignore[arg-type]  # bytes are sent as they are; locust's hint says str
            headers={"Content-Type": upload.content_type, **self.auth},
            name=path,
            catch_response=True,
        ) as response:
            if self.overload_ok and _is_overload_refusal(response):
                response.request_meta["name"] = f"{path} [503]"  # its own row: rejections are fast
                response.success()
                return
            if response.status_code == 0:  # FastHttpUser's mark for no HTTP answer at all
                response.failure(f"{upload.name}: no answer: {response.error!r}")
                return
            if response.status_code != 200:
                response.failure(
                    f"{upload.name}: HTTP {response.status_code} {(response.text or '')[:200]!r}"
                )
                return
            try:
                body = json.loads(response.content)
            except ValueError:
                response.failure(f"{upload.name}: body is not JSON")
                return
            problem = check(body, answer_for(self.answers, upload.name))
            if problem is None:
                response.success()
                SERVER_STAGES.add(path, body.get("timing") if isinstance(body, dict) else None)
            else:
                response.failure(f"{upload.name}: {problem}")

    @task(3)
    def classify(self) -> None:
        self._post("/classify", self.query, check_classify)

    @task(1)
    def detect(self) -> None:
        # BlazeFace has one precision (fp32): a precision asked of it by name is refused (422), so
        # --mva-precision (int8 or fp32 for MobileNetV2) is for /classify only
        query = {k: v for k, v in self.query.items() if k != "precision"}
        self._post(
            "/detect",
            {"model": self.detector, **query},
            lambda body, expected: check_detect(body, expected, self.detector),
        )
