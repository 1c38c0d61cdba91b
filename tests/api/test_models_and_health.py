from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.artifacts import ArtifactLayout
from service.settings import CPU_COUNT, ServerSettings
from tests.conftest import LiveServer, damaged_locks
from tests.readme import README


def test_models_lists_models_engines_and_cpu(client: httpx.Client) -> None:
    body = client.get("/v1/models").json()
    names = {m["name"]: m for m in body["models"]}
    assert set(names) == {"mobilenet_v2", "blazeface_short", "blazeface_full"}
    assert names["mobilenet_v2"]["labels"] == 1001
    assert names["mobilenet_v2"]["precisions"] == ["int8", "fp32"]
    assert set(names["mobilenet_v2"]["artifacts"]) >= {"int8.onnx", "fp32.onnx", "source.tflite"}
    assert body["lock_error"] is None
    assert set(body["engines"]) == {"onnxruntime", "litert"}
    assert body["engines"]["onnxruntime"]["version"]
    # each feature's flag as this CPU has it (set(simd) alone would be the labels, true on any CPU)
    simd = body["cpu"]["simd"]
    flags = _cpuinfo_flags()
    for label, flag in (("AVX2", "avx2"), ("AVX-512F", "avx512f"), ("AVX-512 VNNI", "avx512_vnni")):
        assert simd[label] is (flag in flags), label
    assert body["cpu"]["cores"] == CPU_COUNT
    warmed = {(r["model"], r["engine"]) for r in body["runners"]}
    assert ("mobilenet_v2", "onnxruntime") in warmed


def test_models_says_which_int8_file_onnxruntime_runs_and_why(client: httpx.Client, images: Path) -> None:
    """int8-signed.onnx or int8.onnx depends on the CPU and on what the build verified: the listing
    names the file an int8 request runs, and the reason."""
    onnxruntime = client.get("/v1/models").json()["engines"]["onnxruntime"]
    assert onnxruntime["int8_weights"] == "auto"
    assert set(onnxruntime["int8_files"]) == {"mobilenet_v2"}  # BlazeFace has no int8 variant
    chosen = onnxruntime["int8_files"]["mobilenet_v2"]
    assert chosen["why"].startswith("this CPU has")
    picture = (images / "cat.bmp").read_bytes()
    answer = client.post("/classify", params={"precision": "int8"}, files={"image": picture})
    assert answer.json()["settings"]["artifact"] == f"mobilenet_v2/{chosen['file']}"


def test_a_damaged_lock_leaves_the_service_serving_and_models_says_so(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path, images: Path
) -> None:
    """lock.json cut short (a copy interrupted, a hand edit) or hand-edited to a shape with a wrong part
    inside (that was a 500): the model files still serve, so start-up, /readyz and inference go on, and
    /v1/models answers with the reason where the lock's figures were, logged once however often it is
    asked."""
    models = _linked_models(layout, tmp_path)  # only the damaged lock is written
    lock = models / "build" / "lock.json"
    whole = lock.read_text()
    lock.unlink()
    lock.write_text(whole[: len(whole) // 2])
    server = start_server(models_dir=str(models), warm_models='["mobilenet_v2"]')
    with server.client() as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        picture = (images / "cat.bmp").read_bytes()
        classified = client.post("/classify", files={"image": picture})
        assert classified.json()["predictions"][0]["label"] == "Egyptian cat"
        for _ in range(2):
            listing = client.get("/v1/models")
            assert listing.status_code == 200, listing.text
            body = listing.json()
            assert body["lock_error"].startswith("lock.json cannot be read (")
            assert str(tmp_path) not in body["lock_error"]
            assert [m["artifacts"] for m in body["models"]] == [None, None, None]
            chosen = body["engines"]["onnxruntime"]["int8_files"]["mobilenet_v2"]
            assert chosen["file"] == "int8.onnx"  # int8-signed.onnx only once a lock says it was verified
        # the lock is read on each request: hand-edited while the server runs
        for where, damaged in damaged_locks(json.loads(whole), "mobilenet_v2").items():
            lock.write_text(json.dumps(damaged))
            listing = client.get("/v1/models")
            assert listing.status_code == 200, listing.text
            body = listing.json()
            assert body["lock_error"] == f"lock.json cannot be read ({where})"
            assert [m["artifacts"] for m in body["models"]] == [None, None, None]
            assert body["engines"]["onnxruntime"]["int8_files"]["mobilenet_v2"]["file"] == "int8.onnx"
    # (on a VNNI host start-up says it too, of int8-signed.onnx)
    assert server.log_path.read_text().count("/v1/models lists no artifacts") == 1


def _cpuinfo_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def test_manifest_is_served_as_json(client: httpx.Client) -> None:
    manifest = client.get("/v1/manifest").json()
    assert manifest["models"]["blazeface_short"]["anchors"]["strides"] == [8, 16, 16, 16]
    assert manifest["models"]["mobilenet_v2"]["input"]["mean"] == 128.0


def test_manifest_is_the_file_the_server_loaded_revalidated_by_its_etag(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path
) -> None:
    """The bytes the server parsed at start-up: the manifest it runs with, also once the file is
    edited (that takes a restart; it was read again on every request). The page revalidates it on
    every load (no-cache): a 304 while it is the same."""
    models = _linked_models(layout, tmp_path)
    manifest = models / "manifest.json"
    loaded = manifest.read_bytes()
    server = start_server(models_dir=str(models), warm_models="[]")
    with server.client() as client:
        first = client.get("/v1/manifest")
        assert first.status_code == 200 and first.content == loaded
        assert first.headers["content-type"] == "application/json"
        assert first.headers["cache-control"] == "no-cache"
        etag = first.headers["etag"]
        manifest.unlink()  # a link to the real one
        manifest.write_text(json.dumps(json.loads(loaded) | {"version": 99}))
        unchanged = client.get("/v1/manifest", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        again = client.get("/v1/manifest", headers={"If-None-Match": '"another"'})
        assert again.status_code == 200 and again.content == loaded and again.headers["etag"] == etag


def test_the_app_serves_the_manifest_its_settings_read_not_the_file_as_it_is_since(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """The checks passed on the manifest the settings read: the app runs with that one, though the file
    changed before the app was made (it read the file again)."""
    models = _linked_models(layout, tmp_path)
    manifest = models / "manifest.json"
    read = manifest.read_bytes()
    settings = ServerSettings(models_dir=models, warm_models=[])
    manifest.unlink()  # a link to the real one
    manifest.write_text(json.dumps(json.loads(read) | {"version": 99}))
    app = create_app(settings)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/v1/manifest")

    response = asyncio.run(call())
    assert response.status_code == 200 and response.content == read


def test_models_and_answers_name_the_engine_versions_it_runs_not_ones_installed_since(
    tmp_path: Path, images: Path
) -> None:
    """The versions are read once, in one place: importlib read the packages' metadata files on every
    request, and named an onnxruntime installed after start-up (a folder on PYTHONPATH, searched before
    site-packages), not the one the server had imported; a LiteRT runner built since (engines are
    imported on first use) named its own read, so /v1/models and a /classify answer disagreed."""
    installed = tmp_path / "site"
    installed.mkdir()
    path = os.pathsep.join(filter(None, [str(installed), os.environ.get("PYTHONPATH")]))
    server = LiveServer({"PYTHONPATH": path, "MVA_WARM_MODELS": "[]"})
    picture = (images / "cat.bmp").read_bytes()
    try:
        with server.client() as client:
            running = {
                engine: about["version"]
                for engine, about in client.get("/v1/models").json()["engines"].items()
            }
            for package in ("onnxruntime", "ai_edge_litert"):
                newer = installed / f"{package}-99.0.0.dist-info"
                newer.mkdir()
                name = package.replace("_", "-")
                (newer / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 99.0.0\n")
            again = {
                engine: about["version"]
                for engine, about in client.get("/v1/models").json()["engines"].items()
            }
            # runners built after the installs, one per engine
            answered = {
                engine: client.post("/classify", params={"engine": engine}, files={"image": picture}).json()
                for engine in running
            }
    finally:
        server.stop()
    assert again == running
    assert {engine: answer["settings"]["engine_version"] for engine, answer in answered.items()} == running
    assert "99.0.0" not in running.values()


def _linked_models(layout: ArtifactLayout, tmp_path: Path) -> Path:
    """A models folder of links to the real files (models/build is never written): a test replaces
    the link of a file it edits."""
    models = tmp_path / "models"
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"), copy_function=os.symlink)
    return models


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_and_stages(client: httpx.Client, images: Path) -> None:
    client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()})
    client.get("/nope/at/all")
    text = client.get("/metrics").text
    assert 'mva_requests_total{route="/classify",status="200"}' in text
    assert 'mva_requests_total{route="other",status="404"}' in text
    assert 'mva_stage_seconds_count{route="/classify",stage="inference"}' in text
    assert "mva_queue_depth" in text
    assert 'mva_inferences_total{engine="onnxruntime",model="mobilenet_v2"}' in text


def test_the_readme_names_every_metric_the_server_exports(client: httpx.Client) -> None:
    """The README's /metrics row left mva_batch_size out (it is exported whether batching is on or
    not). prometheus_client's own `_created` series (each metric's creation time) are not listed."""
    text = client.get("/metrics").text
    exported = {
        name.removesuffix("_total") if kind == "counter" else name
        for name, kind in re.findall(r"^# TYPE (\w+) (\w+)$", text, flags=re.MULTILINE)
        if not name.endswith("_created")
    }
    (row,) = [line for line in README.read_text().splitlines() if line.startswith("| `GET /metrics` |")]
    named = {name.removesuffix("_total") for name in re.findall(r"`(mva_\w+)", row)}
    assert exported == named, (exported, named)


def _scrape(client: httpx.Client, route: str) -> dict[str, tuple[float, float]]:
    """(count, sum) of every stage histogram of `route`."""
    found: dict[str, list[float]] = {}
    labels = rf'route="{re.escape(route)}",stage="(\w+)"'
    pattern = re.compile(rf"mva_stage_seconds_(count|sum)\{{{labels}\}} (\S+)$")
    for line in client.get("/metrics").text.splitlines():
        match = pattern.match(line)
        if match:
            found.setdefault(match.group(2), [0.0, 0.0])[match.group(1) == "sum"] = float(match.group(3))
    return {stage: (count, total) for stage, (count, total) in found.items()}


@pytest.mark.parametrize(("route", "image"), [("/classify", "cat_720p.jpg"), ("/detect", "face.jpg")])
def test_stage_histograms_hold_the_figures_the_response_gave(
    client: httpx.Client, images: Path, route: str, image: str
) -> None:
    """The middleware observes them once the response is sent: each stage once per request, with the
    very figures of the body's `timing` (and none for a request that failed)."""
    before = _scrape(client, route)
    timing = client.post(route, files={"image": (images / image).read_bytes()}).json()["timing"]
    failed = client.post(route, content=b"not an image", headers={"content-type": "image/jpeg"})
    assert failed.status_code == 415
    after = _scrape(client, route)
    assert set(after) == set(timing)
    for stage, ms in timing.items():
        count, seconds = after[stage]
        count_before, seconds_before = before.get(stage, (0.0, 0.0))
        assert count - count_before == 1, stage
        assert seconds - seconds_before == pytest.approx(ms / 1000.0, abs=1e-6), stage


def test_every_response_names_the_replica(client: httpx.Client, images: Path) -> None:
    """Answers, errors of every kind and HEAD all carry X-Served-By, the server's default replica name
    (MVA_REPLICA unset: HOSTNAME, inherited from this process, else "local")."""
    replica = os.environ.get("MVA_REPLICA") or os.environ.get("HOSTNAME", "local")
    responses = [
        client.get("/healthz"),
        client.head("/v1/models"),
        client.get("/no-such-route"),
        client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()}),
        client.post("/classify?top_k=0", files={"image": (images / "cat.bmp").read_bytes()}),
        client.post("/classify", content=b"not an image", headers={"content-type": "image/jpeg"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 422, 415]
    assert [r.headers.get("x-served-by") for r in responses] == [replica] * len(responses)


def test_openapi_documents_the_image_body(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/classify"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/jpeg" in body
