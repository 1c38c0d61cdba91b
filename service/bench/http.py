"""Over HTTP: one lean client (http.client), sequential requests, against a server at --url or one
started here on a free loopback port (a real uvicorn process, as `mobile-vision-api serve` runs it)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from service.bench.load import CONTENT_LENGTH, request_bytes
from service.bench.matrix import Cell
from service.client import get_from
from service.localserver import LOOPBACK, serve_app
from service.manifest import Manifest


@contextmanager
def local_server(
    models_dir: Path,
    env: dict[str, str] | None = None,
    workers: int | None = None,
    ready_timeout_s: float = 180,
    tree: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`mobile-vision-api serve` on a free loopback port with these models (the code of `tree` when
    given: another checkout); yields (url, process). `workers` None: `env`'s MVA_WORKERS, else 1."""
    # absolute: a server from another checkout runs in that checkout's folder
    models = {"MVA_MODELS_DIR": str(models_dir.resolve())}
    with serve_app(models | (env or {}), workers, timeout_s=ready_timeout_s, tree=tree) as server:
        yield server


class ServerFailed(RuntimeError):
    """The server could not be reached, or answered other than 200: nothing of it is timed."""


def api_key_headers() -> dict[str, str]:
    """MVA_API_KEY as a request header when set (a server started here inherits it too)."""
    key = os.environ.get("MVA_API_KEY")
    return {"x-api-key": key} if key else {}


def why_unreachable(url: str) -> str | None:
    """Why no measurement can reach the server at --url (no server answers there, or not this service),
    or None: a command given one says so in one line before it starts (with another server there bench
    ran every cell and failed each HTTP one; bench-browser's playwright timed out on the page)."""
    try:
        health = get_from(f"{url}/healthz", timeout=10)
    except httpx.HTTPError as exc:
        return f"no server answers there ({exc.__class__.__name__}: {exc})"
    if health.status_code != 200:
        return f"{url}/healthz answered HTTP {health.status_code}: not this service's address"
    return None


def get_ok(url: str, timeout: float) -> httpx.Response:
    """One GET (with MVA_API_KEY when set) whose answer is a 200; else ServerFailed, which a lab command
    ends with in one line (a server that died mid-run was a traceback of httpx's)."""
    try:
        response = get_from(url, timeout=timeout, headers=api_key_headers())
    except httpx.HTTPError as exc:
        raise ServerFailed(f"{url}: no answer ({exc.__class__.__name__}: {exc})") from exc
    if response.status_code != 200:
        raise ServerFailed(f"{url}: HTTP {response.status_code}: {response.text[:300]!r}")
    return response


# What a keep-alive connection the server closed while it was idle raises on the next request (the
# service closes idle connections after MVA_KEEP_ALIVE_S, 5 s by default: a bench that lets many
# configurations take turns can leave one idle that long). The clients here reconnect and send again
# once, as HTTP clients do; a request to /classify or /detect changes nothing, so sending it twice is safe.
STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)
T = TypeVar("T")


def once_more_if_stale(exchange: Callable[[], T], reconnect: Callable[[], None], what: str) -> T:
    """`exchange()`; if the server had closed the idle connection, `reconnect()` and exchange once more.
    A second close is no idle timeout and raises ServerFailed, which says so (a bare BrokenPipeError
    would make a typer command exit 1 without a word: click takes it for a closed stdout)."""
    try:
        return exchange()
    except STALE_CONNECTION:
        reconnect()
    try:
        return exchange()
    except STALE_CONNECTION as exc:
        raise ServerFailed(f"{what}: the server closed the connection again right after a reconnect") from exc


class LeanClient:
    """One keep-alive connection through the standard library's http.client with TCP_NODELAY: about
    what curl or a load balancer costs per request (httpx's own work is ~0.9 ms a request on this
    CPU, which would count as the server's). Sends MVA_API_KEY when set (a server started here
    inherits it too)."""

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self._connection = http.client.HTTPConnection(parsed.hostname or LOOPBACK, parsed.port, timeout=60)
        try:
            self._connect()
        except OSError as exc:
            raise ServerFailed(f"{url}: no server answers there ({exc.strerror or exc})") from exc
        self._headers = api_key_headers()

    def _connect(self) -> None:
        self._connection.close()
        self._connection.connect()
        assert self._connection.sock is not None
        self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, path: str, params: dict[str, str], body: bytes, content_type: str) -> bytes:
        """The response body of a 200; anything else raises."""
        target = path + (f"?{urlencode(params)}" if params else "")
        headers = {"content-type": content_type} | self._headers

        def exchange() -> http.client.HTTPResponse:
            self._connection.request("POST", target, body=body, headers=headers)
            return self._connection.getresponse()

        response = once_more_if_stale(exchange, self._connect, target)
        answer = response.read()
        if response.status != 200:
            raise ServerFailed(f"{target}: HTTP {response.status}: {answer[:300]!r}")
        return answer

    def close(self) -> None:
        self._connection.close()


class SpinningClient:
    """A diagnostic client that never sleeps while it waits: it sends the request, then polls its
    non-blocking socket until the whole answer is in. Against LeanClient it saves the client's own
    wake-up after sleeping through the request, which on a VM can be a large part of a 1-client
    round trip. It keeps a core busy while it waits: for 1-client latency figures only."""

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self._host, self._port = parsed.hostname or LOOPBACK, parsed.port or 80
        self._sock = self._connect()
        self._headers = api_key_headers()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self._host, self._port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def post(self, path: str, params: dict[str, str], body: bytes, content_type: str) -> bytes:
        """The response body of a 200; anything else raises."""
        headers = {"content-type": content_type} | self._headers
        request = request_bytes(self._host, self._port, path, params, body, headers)

        def reconnect() -> None:
            self._sock.close()
            self._sock = self._connect()

        return once_more_if_stale(lambda: self._exchange(path, request), reconnect, path)

    def _exchange(self, path: str, request: bytes) -> bytes:
        self._sock.setblocking(True)
        self._sock.sendall(request)
        self._sock.setblocking(False)
        answer, head_end, length = bytearray(), -1, 0
        while head_end < 0 or len(answer) < head_end + 4 + length:
            try:
                chunk = self._sock.recv(1 << 16)
            except BlockingIOError:
                continue  # the point: poll, do not sleep
            if not chunk:
                if not answer:  # closed before answering: an idle connection the server let go
                    raise ConnectionResetError("the server closed the connection")
                raise ConnectionError("the server closed the connection mid-answer")
            answer += chunk
            if head_end < 0 and (head_end := answer.find(b"\r\n\r\n")) >= 0:
                match = CONTENT_LENGTH.search(answer, 0, head_end + 2)
                if match is None:
                    raise RuntimeError(f"a response without Content-Length: {bytes(answer[:200])!r}")
                length = int(match.group(1))
        content = bytes(answer[head_end + 4 :])
        if answer[9:12] != b"200":
            raise ServerFailed(f"{path}: HTTP {answer[9:12].decode()}: {content[:300]!r}")
        return content

    def close(self) -> None:
        self._sock.close()


class HttpClient:
    """Sends the image as the raw request body (Content-Type image/jpeg etc.): the leanest upload,
    from a LeanClient."""

    def __init__(self, url: str, manifest: Manifest) -> None:
        self._client = LeanClient(url)
        self._manifest = manifest

    def call(self, cell: Cell, image: bytes, content_type: str) -> Callable[[], object]:
        spec = self._manifest.get(cell.model)
        path = "/classify" if spec.task == "classification" else "/detect"
        params = {"model": spec.name} | cell.query()
        return lambda: self._client.post(path, params, image, content_type)

    def close(self) -> None:
        self._client.close()
