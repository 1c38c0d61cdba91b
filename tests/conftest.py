"""Fixtures shared by the suite: the real test images, the built models, and real uvicorn servers
on loopback (separate processes, as in production)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.artifacts import ArtifactLayout
from service.engines.registry import RunnerRegistry
from service.manifest import Manifest
from service.settings import PROJECT_ROOT

IMAGES = Path(os.environ.get("MVA_TEST_IMAGES") or PROJECT_ROOT.parent / "shared" / "images")


@pytest.fixture(scope="session")
def images() -> Path:
    if not (IMAGES / "grace_hopper.bmp").exists():
        pytest.fail(f"test images not found in {IMAGES}: set MVA_TEST_IMAGES")
    return IMAGES


@pytest.fixture(scope="session")
def layout() -> ArtifactLayout:
    layout = ArtifactLayout(PROJECT_ROOT / "models")
    if not layout.lock.exists():
        pytest.fail("models are not built: run `make models`")
    return layout


@pytest.fixture(scope="session")
def manifest(layout: ArtifactLayout) -> Manifest:
    return Manifest.load(layout.manifest)


@pytest.fixture(scope="session")
def registry(layout: ArtifactLayout) -> RunnerRegistry:
    return RunnerRegistry(layout, max_runners=32, pool_size=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`mobile-vision-api serve` in a child process on a free loopback port."""

    def __init__(self, env: dict[str, str], wait_ready: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mva-test-server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(self.port), "--log-level", "warning"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait("/readyz" if wait_ready else "/healthz")

    def _wait(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not answering {path} after {timeout} s: {self.log_path.read_text()}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def start(wait_ready: bool = True, **env: str) -> LiveServer:
        server = LiveServer({f"MVA_{k.upper()}": v for k, v in env.items()}, wait_ready)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """The service with default settings."""
    return start_server()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
