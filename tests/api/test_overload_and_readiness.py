"""Overload turns into 503 + Retry-After instead of a hang; a broken model leaves the service up but
not ready, with the reason."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from service.api.app import create_app
from service.artifacts import ArtifactLayout
from service.settings import ServerSettings
from tests.conftest import LiveServer, metric
from tests.inprocess import cores_held, serving
from tests.raw_http import connect


def test_requests_beyond_the_queue_bound_get_503(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(max_pending="2", warm_models='["mobilenet_v2"]')
    data = (images / "cat.bmp").read_bytes()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            # scalar reference kernels take ~130 ms each: 10 at once overflow a bound of 2
            calls = [client.post("/classify?preset=scalar", files={"image": data}) for _ in range(10)]
            return await asyncio.gather(*calls)

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2 and statuses.count(503) >= 1, statuses
    rejected = next(r for r in responses if r.status_code == 503)
    assert rejected.json()["error"]["code"] == "overloaded"
    assert int(rejected.headers["retry-after"]) >= 1
    with server.client() as client:  # recovers at once
        recovered = client.post("/classify", files={"image": data})
        assert recovered.status_code == 200 and recovered.json()["predictions"][0]["label"] == "Egyptian cat"


def test_requests_that_wait_too_long_get_503(start_server: Callable[..., LiveServer], images: Path) -> None:
    server = start_server(queue_timeout_s="0.05", inference_cores="1", warm_models='["mobilenet_v2"]')
    data = (images / "cat.bmp").read_bytes()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *[client.post("/classify?preset=scalar", files={"image": data}) for _ in range(4)]
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert 200 in statuses and 503 in statuses, statuses
    late = next(r for r in responses if r.status_code == 503)
    assert late.json()["error"]["code"] == "overloaded"
    assert "waited more than 0.05 s" in late.json()["error"]["message"]
    assert int(late.headers["retry-after"]) >= 1


def test_a_request_whose_client_left_while_it_waited_for_a_core_never_runs(images: Path) -> None:
    """A client that times out and leaves must not cost a core: with the one core held by a job of the
    test, six requests arrive whole and queue (one taken by the pool's thread, waiting there for the
    core; five in the pool's queue), their clients hang up, and all six end as 499 before the core is
    free; none runs once it is, and the server keeps serving. Each step waits for what the server
    shows (/metrics), never for a guessed time."""
    app = create_app(ServerSettings(warm_models=[], inference_cores=1, queue_timeout_s=120))
    state = app.state.mva
    data = (images / "cat.bmp").read_bytes()
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        host, port = url.removeprefix("http://").split(":")
        request = (
            f"POST /classify?preset=scalar HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/bmp\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data

        def scrape(name: str, **labels: str) -> float:
            return metric(client.get("/metrics").text, name, **labels)

        def until(what: str, done: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 30  # a guard against a hang, not a speed check
            while not done():
                assert time.monotonic() < deadline, f"never {what}"
                time.sleep(0.02)

        with cores_held(state) as release:
            leaving = [connect(int(port)) for _ in range(6)]
            for sock in leaving:
                sock.sendall(request)
            until("queued all six", lambda: scrape("mva_queue_depth") == 6)
            for sock in leaving:
                sock.close()
            dropped = partial(scrape, "mva_requests_total", route="/classify", status="499")
            until("answered all six 499", lambda: dropped() == 6)
            release.set()
            until("emptied the queue", lambda: scrape("mva_queue_depth") == 0)
            assert scrape("mva_inferences_total", model="mobilenet_v2", engine="litert") == 0
            recovered = client.post(
                "/classify?preset=scalar", content=data, headers={"content-type": "image/bmp"}
            )
            assert recovered.json()["predictions"][0]["label"] == "Egyptian cat"
            # the one inference counted where the six would have been
            assert scrape("mva_inferences_total", model="mobilenet_v2", engine="litert") == 1


def test_corrupt_model_leaves_service_up_but_not_ready(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"))
    for int8_file in (models / "build" / "mobilenet_v2").glob("int8*.onnx"):  # int8-signed.onnx too
        int8_file.write_bytes(b"this is not an onnx model")
    server = start_server(wait_ready=False, models_dir=str(models))
    with server.client() as client:
        for _ in range(50):  # wait for the warm-up to finish failing
            ready = client.get("/readyz")
            if "the server log has the details" in ready.text:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "not_ready"
        message = ready.json()["error"]["message"]
        assert (
            message.startswith("warm-up of mobilenet_v2 failed (InvalidProtobuf)")
            and "the server log" in message
        )
        assert str(tmp_path) not in message  # the cause, with its paths, is in the log only
        assert client.get("/healthz").status_code == 200
        for route in ("/classify", "/detect"):
            refused = client.post(route, content=b"x", headers={"content-type": "image/jpeg"})
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
        assert client.get("/v1/models").status_code == 200
    assert server.process.poll() is None  # still running, not crash-looping
    logged = server.log_path.read_text()
    assert "not ready: warm-up of mobilenet_v2 failed" in logged and str(models) in logged


def test_models_not_built_leave_service_up_and_every_route_answers(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path, images: Path
) -> None:
    """Only the manifest, no built models: inference is 503 not_ready on both routes (not a 500 from
    the missing labels file), and /v1/models still says what there is."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(layout.manifest, models / "manifest.json")
    server = start_server(wait_ready=False, models_dir=str(models))
    with server.client() as client:
        for _ in range(50):
            ready = client.get("/readyz")
            if "the server log has the details" in ready.text:
                break
            asyncio.run(asyncio.sleep(0.1))
        # what is missing and what to do, without the server's paths
        message = ready.json()["error"]["message"]
        assert "build/mobilenet_v2/" in message
        assert "is missing: run `mobile-vision-api models build`" in message
        assert str(tmp_path) not in message
        for route in ("/classify", "/detect"):
            refused = client.post(route, files={"image": (images / "face.jpg").read_bytes()})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "not_ready"
        listing = client.get("/v1/models")
        assert listing.status_code == 200
        mobilenet = next(m for m in listing.json()["models"] if m["name"] == "mobilenet_v2")
        assert mobilenet["labels"] is None and mobilenet["artifacts"] == {}
    assert "Traceback" not in server.log_path.read_text()


def test_a_model_file_missing_at_request_time_is_503_not_ready_with_retry_after(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path, images: Path
) -> None:
    """The server is ready (onnxruntime's file warmed) but LiteRT's file of the model is not there: a
    request for it is 503 not_ready naming the file, and says when to ask again, as every 503 does."""
    models = tmp_path / "models"
    (models / "build" / "mobilenet_v2").mkdir(parents=True)
    shutil.copy(layout.manifest, models / "manifest.json")
    build = layout.root / "build"
    for entry in build.iterdir():
        if entry.name != "mobilenet_v2":
            (models / "build" / entry.name).symlink_to(entry)
    for entry in (build / "mobilenet_v2").iterdir():
        if entry.name != "source.tflite":
            (models / "build" / "mobilenet_v2" / entry.name).symlink_to(entry)
    server = start_server(models_dir=str(models), warm_models='["mobilenet_v2"]')
    with server.client() as client:
        data = (images / "cat.bmp").read_bytes()
        refused = client.post("/classify", params={"engine": "litert"}, files={"image": data})
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "not_ready" and "source.tflite is missing" in error["message"]
        assert refused.headers["retry-after"] == "2"
        assert "total;dur=" in refused.headers["server-timing"]  # found missing after the settings check
        assert client.post("/classify", files={"image": data}).status_code == 200  # onnxruntime serves on
