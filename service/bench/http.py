"""Over HTTP: one client, sequential requests, against a server at --url or one started here on a
free loopback port (a real uvicorn process, as `mobile-vision-api serve` runs it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.bench.matrix import Cell
from service.manifest import Manifest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} was not ready within {timeout_s:g} s")


@contextmanager
def local_server(
    models_dir: Path, env: dict[str, str] | None = None, workers: int = 1, ready_timeout_s: float = 180
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`mobile-vision-api serve` on a free loopback port; yields (url, process), stops it after."""
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--host", LOOPBACK, "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process_env = os.environ | {"MVA_MODELS_DIR": str(models_dir)} | (env or {})
    process = subprocess.Popen(command, env=process_env)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(url, ready_timeout_s, process)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HttpClient:
    """Sends the image as the raw request body (Content-Type image/jpeg etc.): the leanest upload."""

    def __init__(self, url: str, manifest: Manifest) -> None:
        key = os.environ.get("MVA_API_KEY")  # a server started here inherits it too
        self._client = httpx.Client(base_url=url, timeout=60, headers={"x-api-key": key} if key else None)
        self._manifest = manifest

    def call(self, cell: Cell, image: bytes, content_type: str) -> Callable[[], object]:
        spec = self._manifest.get(cell.model)
        if spec.task == "classification":
            path, params = "/classify", {"model": spec.name} | cell.query()
        else:
            path, params = "/detect", {"model": spec.name} | cell.query()
        headers = {"content-type": content_type}

        def call() -> object:
            response = self._client.post(path, params=params, content=image, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path} {params}: HTTP {response.status_code}: {response.text[:300]}")
            return response

        return call

    def close(self) -> None:
        self._client.close()
