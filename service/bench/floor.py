"""The least an HTTP server adds on this host: a bare ASGI app (no framework, validation, metrics or
JSON model) on uvicorn with the service's loop and parser, running the same pipeline call on a worker
thread and answering the top label. bench-goals times it beside the service, so the HTTP overhead
splits into what uvicorn, loopback TCP and the thread hop cost here and what the service adds.
`POST /?busy_ms=N` spins N ms on the worker thread instead of running the pipeline: the same wait
without the pipeline's work (N=0: the hop and HTTP alone).

Run as `python -m service.bench.floor PORT MODELS_DIR`; GET / answers 200 once the model is loaded."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen
from urllib.parse import parse_qs

import uvicorn
from starlette.types import Receive, Scope, Send

from service.artifacts import ArtifactLayout
from service.bench.inprocess import InProcess, default_cell
from service.localserver import LOOPBACK, code_env, free_port, running_server, temporary_log
from service.manifest import Manifest

MODEL = "mobilenet_v2"


def create_app(models_dir: Path) -> object:
    layout = ArtifactLayout(models_dir)
    manifest = Manifest.load(layout.manifest)
    inprocess = InProcess(layout, manifest)  # the very pipeline bench-goals times in-process
    pipeline = inprocess.pipeline(default_cell(manifest, MODEL))
    executor = ThreadPoolExecutor(max_workers=1)

    def busy(ms: float) -> bytes:
        end = time.perf_counter() + ms / 1000.0
        while time.perf_counter() < end:
            pass
        return b"{}"

    def classify(data: bytes) -> bytes:
        best = pipeline(data)[0]  # type: ignore[index]
        return json.dumps({"label": best.label, "score": best.score}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"{}"
        busy_ms = parse_qs(scope["query_string"].decode()).get("busy_ms")
        loop = asyncio.get_running_loop()
        if scope["method"] == "POST" and busy_ms:
            body = await loop.run_in_executor(executor, busy, float(busy_ms[0]))
        elif scope["method"] == "POST":
            body = await loop.run_in_executor(executor, classify, b"".join(chunks))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@contextmanager
def floor_server(models_dir: Path) -> Iterator[tuple[str, Popen[bytes]]]:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", "service.bench.floor", str(port), str(models_dir)]
    with (
        temporary_log(f"floor-{port}") as log,
        running_server(command, f"{url}/", log, code_env()) as process,
    ):
        yield url, process


if __name__ == "__main__":
    port, models_dir = int(sys.argv[1]), Path(sys.argv[2])
    uvicorn.run(
        create_app(models_dir),  # type: ignore[arg-type]
        host=LOOPBACK,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
