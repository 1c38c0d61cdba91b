"""Drive the page's own benchmark mode in headless chromium (the numbers the page shows), and time a
new visitor's first result in a fresh profile: on loopback or on an emulated link (chromium's network
throttling), with the service's brotli / gzip copies or, for comparison, without them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.browserbench.chromium import chromium_context

if TYPE_CHECKING:
    from playwright.sync_api import Page

BENCH_TIMEOUT_MS = 1_800_000
READY_TIMEOUT_MS = 60_000
VISITOR_TIMEOUT_MS = 300_000  # navigation to the first result, the downloads on the emulated link included
SHOT_TIMEOUT_MS = 300_000  # the run shown in the screenshot, to its result
# every state the page settles in after loading: only "ready" lets a run start
LOADED = "body[data-state=ready], body[data-state=error], body[data-state=needs-key]"


@dataclass(frozen=True)
class Link:
    """An emulated network link (DevTools Network.emulateNetworkConditions): throughput and round trip."""

    down_mbps: float
    up_mbps: float
    rtt_ms: float

    def describe(self) -> str:
        return f"{self.down_mbps:g}/{self.up_mbps:g} Mbit/s, {self.rtt_ms:g} ms RTT"

    def conditions(self) -> dict[str, Any]:
        return {
            "offline": False,
            "latency": self.rtt_ms,
            "downloadThroughput": self.down_mbps * 1e6 / 8,  # bytes per second
            "uploadThroughput": self.up_mbps * 1e6 / 8,
        }


@dataclass(frozen=True)
class BrowserJob:
    name: str
    image: Path
    task: str  # classify | detect
    choice: tuple[str, str]  # (select id, value): the precision or the detector
    model: str
    precision: str


# name, picture, task, (select id, value), model, precision
JOBS = (
    ("mobilenet_v2 int8", "grace_hopper.bmp", "classify", ("precision", "int8"), "mobilenet_v2", "int8"),
    ("blazeface_short", "face.jpg", "detect", ("detector", "blazeface_short"), "blazeface_short", "fp32"),
)


def browser_jobs(images: Path) -> list[BrowserJob]:
    """What the report measures: MobileNetV2 int8 on grace_hopper, BlazeFace short on face.jpg."""
    return [
        BrowserJob(name, images / picture, task, choice, model, precision)
        for name, picture, task, choice, model, precision in JOBS
    ]


# web/src/index.html's #iterations max: the page runs no more than this many per configuration
PAGE_MAX_ITERATIONS = 200


class PageFailed(RuntimeError):
    """The page could not measure at all (a configuration that fails is a row with its error)."""


class PageNotReady(PageFailed):
    """The page settled in another state than ready (needs-key, error): nothing to run."""


class PictureNotDecoded(PageFailed):
    """The page could not decode the job's picture (not a picture, or a format this browser does not
    decode): its Run and Benchmark buttons stay disabled, its status says why."""


def open_page(page: Page, url: str) -> None:
    """Load the page and wait until it is ready. A page that cannot get ready (the server wants an API
    key, the manifest did not load) says so at once, in the page's own words, instead of a timeout on
    a state that never comes."""
    page.goto(url + "/")
    page.wait_for_selector(LOADED, timeout=READY_TIMEOUT_MS)
    state = page.evaluate("document.body.dataset.state")
    if state != "ready":
        raise PageNotReady(f"the page at {url} is not ready ({state}): {page.text_content('#status')}")


def open_job(page: Page, url: str, job: BrowserJob) -> None:
    """Load the page, pick `job`'s picture and its task and model. PictureNotDecoded, in the page's
    words, as soon as the page fails to decode the picture: waiting for Run to enable would only end
    in playwright's timeout, saying nothing of why."""
    open_page(page, url)
    page.set_input_files("#file", str(job.image))
    # Run and Benchmark enable together, once the picture is decoded
    page.wait_for_selector("#run:not([disabled]), body[data-state=error]")
    if page.evaluate("document.body.dataset.state") == "error":
        said = page.evaluate("window.mva.errors.at(-1)")
        raise PictureNotDecoded(f"the page could not decode {job.image.name}: {said}")
    page.select_option("#task", job.task)
    page.select_option(f"#{job.choice[0]}", job.choice[1])


def page_benchmark(
    chromium: Path,
    url: str,
    job: BrowserJob,
    iterations: int,
    screenshot: Path | None = None,
    timeout_ms: int = BENCH_TIMEOUT_MS,
    shot_timeout_ms: int = SHOT_TIMEOUT_MS,
) -> dict[str, Any]:
    """The page's benchmark of `job` (its `window.mva.bench`); PageFailed, saying why in one line, when
    it does not run or finish (playwright's own errors included: a timeout, a page that crashed). A
    screenshot that cannot be taken leaves the benchmark as measured, with its `screenshot_error`."""
    from playwright.sync_api import Error as PlaywrightError  # its TimeoutError too

    if screenshot is not None:  # an earlier run's picture would pass for this one's, whatever happens
        screenshot.unlink(missing_ok=True)
    with chromium_context(chromium) as context:
        page = context.new_page()
        try:  # inside the `with`, as new_visitor's: a Ctrl-C is not taken for a failed benchmark
            open_job(page, url, job)
            page.fill("#iterations", str(iterations))
            page.click("#bench")
            page.wait_for_selector("body[data-state=bench-done], body[data-state=error]", timeout=timeout_ms)
            # a configuration that failed is a row with its `error` (and the page in its error state);
            # no result at all means the benchmark itself did not run
            result = page.evaluate("window.mva.bench")
            if result is None:
                raise PageFailed(f"the page's benchmark failed: {page.evaluate('window.mva.errors')}")
        except PlaywrightError as exc:  # its first line says what happened, a call log follows
            line = exc.message.splitlines()[0]
            raise PageFailed(f"the page's benchmark of {job.name} did not finish: {line}") from None
        if screenshot is not None:
            error = _screenshot(page, screenshot, shot_timeout_ms)
            if error is not None:
                result["screenshot_error"] = error
        result["job"]["name"] = job.name
        return result


def _screenshot(page: Page, path: Path, timeout_ms: int) -> str | None:
    """A run's results and drawn picture above the benchmark's chart, in `path`; or, when playwright
    fails on the way (the run does not end in time, the page crashed), its first line, and no file at
    `path` (page_benchmark removed an earlier run's)."""
    from playwright.sync_api import Error as PlaywrightError  # its TimeoutError too

    try:
        page.click("#run")
        page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=timeout_ms)
        page.screenshot(path=str(path), full_page=True)
    except PlaywrightError as exc:
        return f"screenshot: {exc.message.splitlines()[0]}"
    return None


def unfinished_benchmark(job: BrowserJob, iterations: int, error: str) -> dict[str, Any]:
    """The entry of a job whose page benchmark did not finish (PageFailed's words in `error`), in
    page_benchmark's shape: no rows, so no figures; report.py lists it as failed."""
    return {
        "job": {"name": job.name, "task": job.task, "model": job.model, "precision": job.precision},
        "iterations": iterations,
        "picture": None,
        "rows": [],
        "error": error,
    }


def new_visitor(
    chromium: Path,
    url: str,
    job: BrowserJob,
    simd: bool,
    threads: int,
    link: Link | None = None,
    compressed: bool = True,
    timeout_ms: int = VISITOR_TIMEOUT_MS,
) -> dict[str, Any]:
    """Fresh profile (empty HTTP cache): navigation to the first browser result, and every byte fetched
    (as sent: compressed bytes when compressed). `compressed=False` asks for `identity`, as a server
    without the build's copies would answer. A visit the page reports as failed, or with no result in
    `timeout_ms` (a slow link), is a row with its error: the report goes on with the others."""
    from playwright.sync_api import Error as PlaywrightError  # its TimeoutError too

    visitor = {
        "job": job.name,
        "simd": simd,
        "threads": threads,
        "link": link.describe() if link else "loopback",
        "compressed": compressed,
    }
    with chromium_context(chromium) as context:
        if not compressed:
            context.set_extra_http_headers({"Accept-Encoding": "identity"})
        page = context.new_page()
        if link is not None:
            devtools = context.new_cdp_session(page)
            devtools.send("Network.enable")
            devtools.send("Network.emulateNetworkConditions", link.conditions())
        fetched: list[tuple[str, int]] = []

        def finished(request: Any) -> None:
            sizes = request.sizes()
            fetched.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

        page.on("requestfinished", finished)
        try:  # inside the `with`: a failure closing the browser after a Ctrl-C is no failed visit
            seconds = _first_result(page, url, job, simd, threads, timeout_ms)
        except PictureNotDecoded as exc:  # this job's picture, not the page: a row, as a failed visit
            return visitor | {"error": str(exc)}
        except PlaywrightError as exc:  # its first line says what happened, a call log follows
            return visitor | {"error": f"no first result: {exc.message.splitlines()[0]}"}
        errors = page.evaluate("window.mva.errors")
        if errors:  # this visitor's row says why; the report goes on with the others
            return visitor | {"error": "; ".join(errors)}
        last = page.evaluate("window.mva.last")
        api_paths = ("/classify", "/detect")
        downloads = [(u, n) for u, n in fetched if not u.split("?")[0].endswith(api_paths)]
        return visitor | {
            # the page calls the API after the browser run: its round trip is not the browser path's
            "time_to_first_result_ms": seconds * 1000 - last["server"]["timing"]["roundTripMs"],
            "bytes": sum(n for _, n in downloads),
            "by_kind": {
                kind: sum(n for u, n in downloads if u.split("?")[0].endswith(suffix))
                # the page's own modules are .mjs, onnxruntime-web is ort.min.js
                for kind, suffix in (("wasm", ".wasm"), ("model", ".onnx"), ("script", (".js", ".mjs")))
            },
            "first_use": last["browser"]["timing"]["firstUse"],
            # what ran (the binary onnxruntime-web loaded): not always what was asked (report.py)
            "engine": last["browser"]["engine"],
        }


def _first_result(page: Page, url: str, job: BrowserJob, simd: bool, threads: int, timeout_ms: int) -> float:
    """Seconds from navigation to the page's first result (or its error state) for `job`."""
    start = time.perf_counter()
    open_job(page, url, job)
    page.select_option("#browser-simd", "1" if simd else "0")
    page.select_option("#browser-threads", str(threads))
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=timeout_ms)
    return time.perf_counter() - start
