"""Fixtures shared by the suite: the real test images, the built models, and real uvicorn servers
on loopback (separate processes, as in production)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.artifacts import ArtifactLayout
from service.browserbench.chromium import find_chromium
from service.engines.registry import RunnerRegistry
from service.localserver import LOOPBACK, free_port, serve_command, stop, wait_until_ready
from service.manifest import Manifest
from service.settings import PROJECT_ROOT

IMAGES = Path(os.environ.get("MVA_TEST_IMAGES") or PROJECT_ROOT.parent / "shared" / "images")


def hold_previous(path: Path) -> Path:
    """An earlier run's report at `path`, and a second name for the same file (a hard link): what a
    reader that opened it before holds. A report rewritten in place changes it too (a crash then leaves
    it torn); one written aside and renamed over the name, whole or not at all, leaves it as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PREVIOUS_REPORT)
    held = path.with_name(path.name + ".held")
    os.link(path, held)
    return held


PREVIOUS_REPORT = "the previous run\n"


def other_service_package(folder: Path) -> Path:
    """A copy of this code's service/ package in `folder` (what another checkout holds), for a test to
    change; returns the package's path. A server started with `folder` as its working folder must not
    run it."""
    package = folder / "service"
    shutil.copytree(PROJECT_ROOT / "service", package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


@pytest.fixture(scope="session")
def images() -> Path:
    if not (IMAGES / "grace_hopper.bmp").exists():
        pytest.fail(f"test images not found in {IMAGES}: set MVA_TEST_IMAGES")
    return IMAGES


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium (never a downloaded browser): the browser tests and bench-browser's."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not found (install it with `make browser-deps`, or set MVA_CHROMIUM)")
    return executable


@pytest.fixture(scope="session")
def page_built() -> None:
    if not (PROJECT_ROOT / "web" / "dist" / "index.html").is_file():
        pytest.fail("the page is not built: run `make web`")


@pytest.fixture(scope="session")
def layout() -> ArtifactLayout:
    layout = ArtifactLayout(PROJECT_ROOT / "models")
    if not layout.lock.exists():
        pytest.fail("models are not built: run `make models`")
    return layout


def models_with_int8_signed(layout: ArtifactLayout, root: Path, verified: bool) -> ArtifactLayout:
    """A models folder of its own at `root` (models/build is never written): the manifest, MobileNetV2's
    two int8 files and the real lock.json, whose int8-signed.onnx entry then says what a build on a host
    with VNNI writes (`verified`: int8.onnx's figures, the same bits) or one without (skipped), whichever
    host this is."""
    own = ArtifactLayout(root)
    own.model_dir("mobilenet_v2").mkdir(parents=True)
    shutil.copy(layout.manifest, own.manifest)
    for path in (layout.onnx("mobilenet_v2", "int8"), layout.onnx_signed_int8("mobilenet_v2")):
        shutil.copy(path, own.model_dir("mobilenet_v2") / path.name)
    lock = layout.read_lock()
    figures = lock["models"]["mobilenet_v2"]["verification"]
    skipped = {"skipped": "no VNNI on the build host; the server uses int8.onnx there"}
    figures["int8-signed"] = figures["int8"] if verified else skipped
    own.write_lock(lock)
    return own


def damaged_locks(lock: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """`lock` hand-edited, one part at a time, to a shape its readers cannot index into (`model`'s entry
    the part), each under the words ArtifactLayout.read_lock's ValueError says of it. `lock` is left
    as it was."""
    entry = lock["models"][model]

    def with_entry(value: object) -> dict[str, Any]:
        return lock | {"models": lock["models"] | {model: value}}

    return {
        "models: a JSON array, not an object": lock | {"models": []},
        f"models.{model}: a JSON string, not an object": with_entry("built"),
        f"models.{model}.verification: a JSON null, not an object": with_entry(
            entry | {"verification": None}
        ),
        f"models.{model}.files: a JSON number, not an object": with_entry(entry | {"files": 3}),
        # the figures int8_file reads, on a VNNI host
        f"models.{model}.verification.int8-signed: a JSON number, not an object": with_entry(
            entry | {"verification": entry.get("verification", {}) | {"int8-signed": 3}}
        ),
    }


# models/manifest.json hand-edited to no manifest, each way by the words ManifestError says of it
BROKEN_MANIFESTS = (
    "not JSON (",
    "models: Field required",
    "models.mobilenet_v2.task: Field required",
)


def write_broken_manifest(manifest: Path, folder: Path, said: str) -> Path:
    """`manifest` broken the way `said` (one of BROKEN_MANIFESTS) says, as `folder`/manifest.json."""
    text = manifest.read_text()
    document = json.loads(text)
    if said == "models: Field required":
        text = json.dumps({key: value for key, value in document.items() if key != "models"})
    elif said.startswith("models.mobilenet_v2.task"):
        del document["models"]["mobilenet_v2"]["task"]
        text = json.dumps(document)
    else:  # cut short, as by an editor that crashed
        text = text[: len(text) // 2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(text)
    return folder / "manifest.json"


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value in a /metrics scrape, by its full name (`mva_requests_total`,
    `mva_batch_size_count`...) and labels; 0 before it is first counted."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def server_timing(response: httpx.Response) -> dict[str, float]:
    """A response's Server-Timing figures by stage, in the order sent."""
    parts = (part.split(";dur=") for part in response.headers["server-timing"].split(", "))
    return {name: float(ms) for name, ms in parts}


@pytest.fixture
def proxy_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY and ALL_PROXY at a loopback port nothing listens on, and no NO_PROXY, as Docker's
    client config puts a proxy in every container: a request asked of that proxy gets no answer."""
    nothing = f"http://{LOOPBACK}:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, nothing)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


# what nginx answers when no upstream does (its built-in page)
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class _ProxyWithNoUpstream(BaseHTTPRequestHandler):
    """Every POST gets nginx's HTML 502 page, or on /plain a text/plain 503 (Envoy's words)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        plain = self.path == "/plain"
        body = b"upstream connect error or disconnect/reset before headers" if plain else NGINX_502
        self.send_response(503 if plain else 502)
        self.send_header("Content-Type", "text/plain" if plain else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # no line on stderr per request


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """The URL of a real HTTP server on loopback answering with `handler` (a thread per request) until
    the block ends."""
    with _serving(ThreadingHTTPServer((LOOPBACK, 0), handler)) as url:
        yield url


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """`server`'s URL while it serves from a thread; shut down and closed after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def proxy_error_page() -> Iterator[str]:
    """The URL of a real HTTP server on loopback that answers as a proxy whose upstream is down: what
    the clients (CLI, page) must name as a proxy's error page instead of failing to parse it. Also
    usable as HTTP_PROXY: it answers an absolute-URL request the same way."""
    with http_server(_ProxyWithNoUpstream) as url:
        yield url


class _Gateway(ThreadingHTTPServer):
    """A reverse proxy on loopback in front of `upstream` that forwards the first `api_calls` POSTs
    and then answers every later one with nginx's 502 page, as a gateway whose API upstream went away
    mid-run does; GETs (the page, its files) are always forwarded. Response headers named in `drop`
    (lower case) are left out, as a proxy configured without them does."""

    def __init__(self, upstream: str, api_calls: int, drop: frozenset[str]) -> None:
        super().__init__((LOOPBACK, 0), _Forward)
        self.upstream = urlsplit(upstream).netloc
        self.api_calls_left = api_calls
        self.drop = _NOT_COPIED | drop
        self.lock = threading.Lock()

    def forwards_api_call(self) -> bool:
        with self.lock:
            self.api_calls_left -= 1
            return self.api_calls_left >= 0


# hop-by-hop, or written by the gateway itself (send_response: Server, Date; the length it sends)
_NOT_COPIED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


class _Forward(BaseHTTPRequestHandler):
    server: _Gateway

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.forwards_api_call():
            self._forward(body)
        else:
            self._answer(502, [("Content-Type", "text/html")], NGINX_502)

    def _forward(self, body: bytes) -> None:
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_COPIED}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()  # bytes as sent: a brotli copy stays brotli
            self._answer(response.status, response.getheaders(), response.read())
        finally:
            upstream.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in self.server.drop:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # no line on stderr per request


@pytest.fixture
def gateway() -> Iterator[Callable[..., str]]:
    """gateway(server, api_calls=n, drop=headers) -> the URL of a real reverse proxy in front of
    `server` whose API upstream goes away after `n` calls (a later call of a run fails, as it can
    behind a load balancer), and that leaves the response headers `drop` out."""
    with ExitStack() as stack:

        def start(
            server: LiveServer, api_calls: int = sys.maxsize, drop: frozenset[str] = frozenset()
        ) -> str:
            return stack.enter_context(_serving(_Gateway(server.url, api_calls, drop)))

        yield start


@pytest.fixture(scope="session")
def manifest(layout: ArtifactLayout) -> Manifest:
    return Manifest.load(layout.manifest)


@pytest.fixture(scope="session")
def registry(layout: ArtifactLayout) -> RunnerRegistry:
    return RunnerRegistry(layout, max_runners=32, pool_size=2)


class LiveServer:
    """`mobile-vision-api serve` in a child process on a free loopback port."""

    def __init__(self, env: dict[str, str], wait_ready: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = Path(tempfile.gettempdir()) / f"mva-test-server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            serve_command(self.port),
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() signals the process group
        )
        try:
            wait_until_ready(
                self.url + ("/readyz" if wait_ready else "/healthz"), self.process, 60.0, self.log_path
            )
        except BaseException:  # not yet in start_server's list: nothing else would stop it
            stop(self.process)
            self._log.close()
            raise

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def stop(self) -> None:
        stop(self.process)
        self._log.close()
        self.log_path.unlink(missing_ok=True)  # thousands of runs would fill the temp folder


def access_lines(server: LiveServer, count: int, **match: object) -> list[dict[str, Any]]:
    """The server's access log lines (MVA_ACCESS_LOG: its log also has text lines) with the values in
    `match` (`path="/classify"`), once `count` of them are written (or 10 s have passed)."""
    deadline = time.monotonic() + 10
    while True:
        text = server.log_path.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        lines = [line for line in lines if all(line[key] == value for key, value in match.items())]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _servers() -> Iterator[Callable[..., LiveServer]]:
    """start(**env) -> a server with MVA_<KEY>=value; all stopped when the fixture's scope ends."""
    servers: list[LiveServer] = []

    def start(wait_ready: bool = True, **env: str) -> LiveServer:
        server = LiveServer({f"MVA_{k.upper()}": v for k, v in env.items()}, wait_ready)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        with ExitStack() as stopping:  # each stopped, also when stopping another raised
            for server in servers:
                stopping.callback(server.stop)


# One factory per scope: a server lives as long as what asked for it. A single session-scoped factory
# kept every server a test or module started until the whole run ended (37 idle servers, ~5 GB, by the
# middle of CI's suite).
start_server = pytest.fixture(_servers, name="start_server")
start_module_server = pytest.fixture(_servers, scope="module", name="start_module_server")
_start_session_server = pytest.fixture(_servers, scope="session", name="_start_session_server")


@pytest.fixture(scope="session")
def server(_start_session_server: Callable[..., LiveServer]) -> LiveServer:
    """The service with default settings."""
    return _start_session_server()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


API_KEY = "key-for-tests"


@pytest.fixture(scope="module")
def guarded(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """The service wanting API_KEY (MVA_API_KEY), MobileNetV2 warm: for a module's clients of a guarded
    service (the CLI, service/client.py, the page, /docs)."""
    return start_module_server(api_key=API_KEY, warm_models='["mobilenet_v2"]')


def until_shutting_down(url: str) -> None:
    """Until the server at `url` says 503 on /readyz: it has taken its SIGTERM (`serve --workers N`'s
    supervisor looks for signals every 0.5 s). A fixed sleep is no synchronization on a busy host."""
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/readyz", timeout=30).status_code != 503:
        assert time.monotonic() < deadline, "/readyz never turned 503 after SIGTERM"
        time.sleep(0.05)


def kill_leftovers(command: subprocess.Popen[bytes], started: list[psutil.Process]) -> None:
    """After a test that signalled `command`: whatever of it and of what it `started` still runs is
    killed, so that a failing test leaves no server or locust behind."""
    for process in started:
        with suppress(psutil.NoSuchProcess):  # gone since: what it was asked
            process.kill()
    if command.poll() is None:
        command.kill()
        command.wait()
