"""Over HTTP: one client, sequential requests, against a server at --url or one started here on a
free loopback port (a real uvicorn process, as `mobile-vision-api serve` runs it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.bench.matrix import Cell
from service.localserver import serve_app
from service.manifest import Manifest


@contextmanager
def local_server(
    models_dir: Path, env: dict[str, str] | None = None, workers: int = 1, ready_timeout_s: float = 180
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`mobile-vision-api serve` on a free loopback port with these models; yields (url, process)."""
    with serve_app(
        {"MVA_MODELS_DIR": str(models_dir)} | (env or {}), workers, timeout_s=ready_timeout_s
    ) as server:
        yield server


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
