"""preset=auto over HTTP: measured on first use (or at start-up), shown in /v1/models, and run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from service.api.app import create_app
from service.localserver import serve_app
from service.settings import ServerSettings
from service.workers import RUN_DIR
from tests.conftest import LiveServer
from tests.inprocess import cores_held

SETTINGS = ("engine", "precision", "simd", "threads", "kernels")


def test_auto_measures_on_first_use_and_runs_the_choice(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server()
    with server.client() as client:
        assert client.get("/v1/models").json()["auto"] == {}
        # what the headers alone refuse is refused before the measurement (seconds), which is not made:
        # curl's --data-binary without a Content-Type sends a form's
        form = {"content-type": "application/x-www-form-urlencoded"}
        refused = client.post("/detect?preset=auto", content=(images / "face.jpg").read_bytes(), headers=form)
        assert refused.status_code == 415 and refused.json()["error"]["code"] == "unsupported_media_type"
        assert "load" not in refused.headers["server-timing"]
        assert client.get("/v1/models").json()["auto"] == {}
        response = client.post(
            "/detect", params={"preset": "auto"}, files={"image": (images / "face.jpg").read_bytes()}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["faces"]) == 2
        # the first use's measurement is in a stage (load), so the stages add up to the total
        timing = body["timing"]
        assert timing["load"] > 0.5 * timing["total"]
        models = client.get("/v1/models").json()
        assert "auto" in models["settings"]["presets"]
        auto = models["auto"]["blazeface_short"]
        ran = body["settings"]
        chosen = auto["choice"]
        assert {k: ran[k] for k in ("engine", "precision", "simd", "threads")} == {
            k: chosen[k] for k in ("engine", "precision", "simd", "threads")
        }
        assert ran["kernels"] == (chosen["kernels"] or "mlas")
        measured = [{k: m[k] for k in SETTINGS} for m in auto["measurements"]]
        assert chosen in measured
        assert (
            min(auto["measurements"], key=lambda m: m["p50_ms"])["p50_ms"]
            == auto["measurements"][0]["p50_ms"]
        )
        # explicit parameters still win over the preset's
        forced = client.post(
            "/detect",
            params={"preset": "auto", "engine": "litert", "kernels": "builtin", "threads": 1},
            files={"image": (images / "face.jpg").read_bytes()},
        ).json()["settings"]
        assert (forced["engine"], forced["kernels"], forced["threads"]) == ("litert", "builtin", 1)


def test_auto_tune_models_are_measured_before_ready(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(auto_tune_models='["mobilenet_v2"]')
    with server.client() as client:
        auto = client.get("/v1/models").json()["auto"]
        assert set(auto) == {"mobilenet_v2"}
        body = client.post(
            "/classify", params={"preset": "auto"}, files={"image": (images / "cat.bmp").read_bytes()}
        ).json()
        assert body["predictions"][0]["label"] == "Egyptian cat"
        assert body["settings"]["precision"] == auto["mobilenet_v2"]["choice"]["precision"]
        assert body["settings"]["engine"] == auto["mobilenet_v2"]["choice"]["engine"]


def test_auto_measures_with_the_servers_onnxruntime_options(start_server: Callable[..., LiveServer]) -> None:
    """preset=auto timed onnxruntime sessions without MVA_ORT_SPINNING, unlike the ones its requests run:
    the measurement now builds them with the server's options, and says which."""
    server = start_server(auto_tune_models='["blazeface_short"]', ort_spinning="true", warm_models="[]")
    with server.client() as client:
        auto = client.get("/v1/models").json()["auto"]["blazeface_short"]
    assert auto["measured_with"] == {"ort_int8_weights": "auto", "ort_spinning": True}


def test_the_request_that_measures_is_admitted_like_an_inference(images: Path) -> None:
    """The first preset=auto request waits for its measurement (which waits here for the cores a job
    of the test holds): it is one of the MVA_MAX_PENDING requests admitted meanwhile, so with a limit of
    1 the next request is refused at once, and it runs once the measurement is done."""
    app = create_app(ServerSettings(warm_models=[], max_pending=1))
    state = app.state.mva
    state.warm_up()  # no model to warm: ready (the lifespan that would start it is not run here)
    face = (images / "face.jpg").read_bytes()

    async def requests() -> tuple[int, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            auto = asyncio.create_task(client.post("/detect?preset=auto", files={"image": face}))
            try:
                for _ in range(500):  # until it is admitted (never, before the fix)
                    if state.pool.pending or auto.done():
                        break
                    await asyncio.sleep(0.01)
                pending = state.pool.pending
                other = await client.post("/detect", files={"image": face})
            finally:
                release.set()
            return pending, other, await auto

    with cores_held(state) as release:
        pending, other, auto = asyncio.run(requests())
    assert pending == 1
    assert other.status_code == 503
    assert other.json()["error"]["message"].endswith("queued or running (limit 1); retry later")
    assert auto.status_code == 200 and len(auto.json()["faces"]) == 2
    assert state.pool.pending == 0


def test_requests_waiting_for_the_measurement_leave_the_loops_thread_pool_free(images: Path) -> None:
    """Each preset=auto request that arrived during the first measurement held a thread of the event
    loop's default pool, blocked on the measurement's lock: with as many such requests as that pool has
    threads, the page's files (their first ETag is hashed in that pool) waited for the measurement. Now
    one thread measures and the others wait on the loop; the page answers while the measurement waits
    for the cores a job of the test holds."""
    app = create_app(ServerSettings(warm_models=[], max_pending=8))
    state = app.state.mva
    state.warm_up()
    face = (images / "face.jpg").read_bytes()

    async def requests() -> tuple[int, bool, list[httpx.Response]]:
        # a pool of 2 threads (min(32, cores + 4) by default): 3 waiting requests filled it before
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            autos = [
                asyncio.create_task(client.post("/detect?preset=auto", files={"image": face}))
                for _ in range(3)
            ]
            try:
                for _ in range(500):  # until all three are admitted and wait for the measurement
                    if state.pool.pending == 3:
                        break
                    await asyncio.sleep(0.01)
                # a guard against a hang, not a speed check: before the fix this waited for `release`
                page = await asyncio.wait_for(client.get("/web/app.mjs"), 60)
                measuring = "blazeface_short" not in state.auto
            finally:
                release.set()
            return page.status_code, measuring, list(await asyncio.gather(*autos))

    with cores_held(state) as release:
        page_status, measuring, autos = asyncio.run(requests())
    assert page_status == 200 and measuring
    assert [len(r.json()["faces"]) for r in autos] == [2, 2, 2]
    assert all(r.json()["settings"] == autos[0].json()["settings"] for r in autos)
    assert state.pool.pending == 0


def test_the_workers_of_one_server_measure_once_and_share_the_choice(tmp_path: Path, images: Path) -> None:
    """`serve --workers 2` with MVA_AUTO_TUNE_MODELS: each process measured for itself, both at once on
    the same cores (so they could choose differently), and /v1/models showed whichever answered. Now
    one measures and the other waits for its result: one measurement, the same choice everywhere."""
    log = tmp_path / "server.log"
    env = {
        RUN_DIR: str(tmp_path / "run"),
        "MVA_WARM_MODELS": '["blazeface_short"]',
        "MVA_AUTO_TUNE_MODELS": '["blazeface_short"]',
    }
    with serve_app(env, workers=2, log=log, log_level="info") as (url, _):
        autos = [models["auto"] for models in _models_of_each_worker(url, 2)]
        assert set(autos[0]) == {"blazeface_short"}
        assert autos[1] == autos[0]  # the choice, the measurements and when they were taken
        choice = autos[0]["blazeface_short"]["choice"]
        face = (images / "face.jpg").read_bytes()
        for _ in range(10):
            with httpx.Client(base_url=url, timeout=60) as fresh:  # a new connection: either process
                ran = fresh.post("/detect?preset=auto", files={"image": face}).json()["settings"]
            assert {k: ran[k] for k in ("engine", "precision", "threads")} == {
                k: choice[k] for k in ("engine", "precision", "threads")
            }
    measured = [line for line in log.read_text().splitlines() if "preset=auto for blazeface_short:" in line]
    assert len(measured) == 1, measured


def _models_of_each_worker(url: str, workers: int) -> list[dict[str, Any]]:
    """/v1/models as each process answers it, over new connections (which either process accepts), told
    apart by its warm-up time: each process measured its own."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        with httpx.Client(base_url=url, timeout=60) as fresh:
            models = fresh.get("/v1/models").json()
        seen[json.dumps(models["warmup_ms"])] = models
        if len(seen) == workers:
            return list(seen.values())
    raise AssertionError(f"{len(seen)} of {workers} processes answered")
