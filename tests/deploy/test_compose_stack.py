"""The compose stack, through its load balancer: real requests, real answers, the load spread over the
replicas. Needs the running stack, so it runs in `make containers-ci` (.ci/containers.sh), which sets
MVA_LB_URL; a plain `pytest` skips it. The stack wants its API key: read from the file compose mounts as the
secret (MVA_API_KEY_SECRET, default deploy/secrets/api_key), as any client of the stack would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.bench.load import read_response, request_bytes
from service.settings import PROJECT_ROOT, ServerSettings, read_api_key_file

LB_URL = os.environ.get("MVA_LB_URL", "")
REPLICAS = int(os.environ.get("MVA_EXPECT_REPLICAS", "2"))
API_KEY_FILE = PROJECT_ROOT / os.environ.get("MVA_API_KEY_SECRET", "deploy/secrets/api_key")

pytestmark = pytest.mark.skipif(not LB_URL, reason="needs the compose stack: `make containers-ci`")


@pytest.fixture(scope="module")
def lb() -> Iterator[httpx.Client]:
    key = read_api_key_file(API_KEY_FILE)
    with httpx.Client(base_url=LB_URL, timeout=30.0, headers={"x-api-key": key}) as client:
        yield client


def test_without_the_key_the_api_refuses_and_the_probes_and_page_stay_open(images: Path) -> None:
    with httpx.Client(base_url=LB_URL, timeout=30.0) as anonymous:
        for response in (
            _post(anonymous, "/classify", images / "cat.bmp"),
            anonymous.get("/v1/models"),
            anonymous.get("/v1/models", headers={"x-api-key": "wrong"}),
        ):
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "unauthorized"
        assert {anonymous.get(path).status_code for path in ("/readyz", "/healthz", "/", "/metrics")} == {200}


def _post(lb: httpx.Client, path: str, image: Path, **params: str) -> httpx.Response:
    return lb.post(path, params=params, files={"image": (image.name, image.read_bytes())})


def test_classify_through_the_balancer(lb: httpx.Client, images: Path) -> None:
    response = _post(lb, "/classify", images / "grace_hopper.bmp", top_k="3")
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "military uniform"
    assert "inference;dur=" in response.headers["server-timing"]


@pytest.mark.parametrize(("model", "faces"), [("short", 2), ("full", 4)])
def test_detect_through_the_balancer(lb: httpx.Client, images: Path, model: str, faces: int) -> None:
    response = _post(lb, "/detect", images / "face.jpg", model=model)
    assert response.status_code == 200, response.text
    found = response.json()["faces"]
    assert len(found) == faces
    assert all(len(face["keypoints"]) == 6 and face["score"] > 0.5 for face in found)


def test_every_replica_serves(lb: httpx.Client, images: Path) -> None:
    picture = images / "cat.bmp"
    served_by = Counter()
    for _ in range(10 * REPLICAS):
        response = _post(lb, "/classify", picture, top_k="1")
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "Egyptian cat"
        served_by[response.headers["x-served-by"]] += 1
    assert len(served_by) == REPLICAS, f"replicas that answered: {dict(served_by)}"
    # round robin: every replica gets at least half its share (10 of the requests each)
    assert min(served_by.values()) >= 10 // 2, f"replicas that answered: {dict(served_by)}"


def test_the_page_and_the_models_it_loads(lb: httpx.Client) -> None:
    page = lb.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    model = lb.get("/models/mobilenet_v2/int8.onnx", headers={"accept-encoding": "gzip"})
    assert model.status_code == 200 and len(model.content) > 1_000_000
    assert model.headers["content-encoding"] == "gzip"  # the image's build made the copy
    # the build's brotli copy of the wasm passes the balancer as it is (nginx does not recompress)
    wasm = lb.get("/web/vendor/ort-wasm-simd-threaded.wasm", headers={"accept-encoding": "br, gzip"})
    assert wasm.headers["content-encoding"] == "br" and wasm.headers["vary"] == "Accept-Encoding"
    assert int(wasm.headers["content-length"]) < len(wasm.content) / 3
    assert lb.get("/v1/manifest").json()["models"].keys() >= {"mobilenet_v2", "blazeface_short"}


def test_the_api_docs_and_their_swagger_ui(lb: httpx.Client) -> None:
    """/docs from the image's own Swagger UI copy; the document declares the stack's key for "Authorize"."""
    docs = lb.get("/docs")
    assert docs.status_code == 200 and "/web/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "https://" not in docs.text
    bundle = lb.get("/web/vendor/swagger-ui/swagger-ui-bundle.js", headers={"accept-encoding": "br"})
    assert bundle.status_code == 200 and bundle.headers["content-encoding"] == "br"
    assert "ApiKey" in lb.get("/openapi.json").json()["components"]["securitySchemes"]


def test_redirects_through_the_balancer_keep_its_address(lb: httpx.Client) -> None:
    """The API's redirects (the page's folder, a trailing slash) name the balancer's host and port, the
    address the client used, not the port nginx listens on inside its container."""
    for path, target in (("/web", "/"), ("/web/", "/"), ("/v1/models/", "/v1/models")):
        response = lb.get(path, follow_redirects=False)
        assert response.status_code == 307, path
        assert response.headers["location"] == f"{LB_URL}{target}"
    assert lb.get("/v1/models/", follow_redirects=True).status_code == 200


def test_bodies_over_the_limit_are_refused_as_json(lb: httpx.Client) -> None:
    limit = ServerSettings().max_upload_bytes
    # just over the image limit: the API refuses it; far over: nginx does, in the same shape, and with the
    # request's ID as the API's answers carry it
    for size in (limit + 1, limit + 1024 * 1024):
        response = lb.post(
            "/classify",
            content=b"\xff" * size,
            headers={"content-type": "image/jpeg", "X-Request-ID": f"too-large-{size}"},
        )
        assert response.status_code == 413, size
        assert response.json()["error"]["code"] == "payload_too_large"
        assert response.headers.get("x-request-id") == f"too-large-{size}", size


ACCESS_LOG_PROBE_ID = "ci-compose-access-log"  # .ci/containers.sh looks for it in the api's log
SPOOFED_CLIENT = "203.0.113.9"  # and checks that the line names the address lb saw, not this one


def test_request_ids_pass_the_balancer(lb: httpx.Client, images: Path) -> None:
    response = lb.post(
        "/classify",
        files={"image": ("cat.bmp", (images / "cat.bmp").read_bytes())},
        # an address of the client's choosing, which the api's access log must not take for the client's
        headers={"X-Request-ID": ACCESS_LOG_PROBE_ID, "X-Forwarded-For": SPOOFED_CLIENT},
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == ACCESS_LOG_PROBE_ID
    own = lb.get("/healthz").headers["x-request-id"]  # none sent: nginx's $request_id
    assert re.fullmatch("[0-9a-f]{32}", own), own


def test_balancer_health(lb: httpx.Client) -> None:
    own = lb.get("/lb/healthz")
    assert own.json() == {"status": "ok"}
    assert re.fullmatch("[0-9a-f]{32}", own.headers.get("x-request-id", "")), own.headers
    assert lb.get("/readyz").status_code == 200


PROMETHEUS_URL = os.environ.get("MVA_PROMETHEUS_URL", "")
SCRAPE_INTERVAL_S = 5  # deploy/prometheus/prometheus.yml


def _query(prometheus: httpx.Client, expr: str) -> dict[str, float]:
    """An instant query: each series' labels (as text) -> its value."""
    answer = prometheus.get("/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", answer
    return {str(sorted(s["metric"].items())): float(s["value"][1]) for s in answer["data"]["result"]}


def _eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(1)


def test_overload_is_refused_by_the_api_not_by_the_balancer(images: Path) -> None:
    """120 clients at once, far above what 2 replicas serve: the API refuses the excess itself (503
    `overloaded`) and serves the rest. nginx must not answer for it: when it counted those 503s as
    failures (max_fails), every replica was marked down at once and nginx answered thousands of its own
    503 `unavailable` a second while the replicas were up."""
    key = read_api_key_file(API_KEY_FILE)
    host, port = LB_URL.removeprefix("http://").split(":")
    body = (images / "cat.bmp").read_bytes()
    headers = {"content-type": "image/bmp", "x-api-key": key}
    request = request_bytes(host, int(port), "/classify", {}, body, headers)
    answers: Counter[str] = Counter()

    async def client(stop: float) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.monotonic() < stop:
            writer.write(request)
            status, answer = await read_response(reader)
            answers["200" if status == 200 else f"{status} {json.loads(answer)['error']['code']}"] += 1
        writer.close()

    async def burst() -> None:
        stop = time.monotonic() + 4
        await asyncio.gather(*(client(stop) for _ in range(120)))

    asyncio.run(burst())
    assert answers["200"] > 0 and answers["503 overloaded"] > 0, answers
    assert set(answers) == {"200", "503 overloaded"}, answers


@pytest.mark.skipif(not PROMETHEUS_URL, reason="needs the stack's `monitoring` profile (MVA_PROMETHEUS_URL)")
def test_prometheus_scrapes_every_replica_and_records_the_stages(lb: httpx.Client, images: Path) -> None:
    """The profile's Prometheus finds the replicas through Docker's DNS and scrapes each: its sum over
    them counts every request sent through the balancer, which no single /metrics through lb does."""
    with httpx.Client(base_url=PROMETHEUS_URL, timeout=10.0) as prometheus:
        up = 'count(up{job="api"} == 1)'
        _eventually(lambda: _query(prometheus, up) == {"[]": REPLICAS}, 60, f"{REPLICAS} replicas up")
        per_replica = 'mva_requests_total{route="/classify",status="200"}'

        def counted() -> float:
            return sum(_query(prometheus, per_replica).values())

        # the count before ours, once every replica has been scraped since the last request (5 s apart)
        before = [counted()]

        def settled() -> bool:
            time.sleep(SCRAPE_INTERVAL_S + 1)
            before.append(counted())
            return before[-1] == before[-2]

        _eventually(settled, 40, "the request count settles")
        sent = 6 * REPLICAS
        for _ in range(sent):
            assert _post(lb, "/classify", images / "cat.bmp", top_k="1").status_code == 200
        _eventually(lambda: counted() == before[-1] + sent, 30, f"exactly {sent} more counted")
        counts = _query(prometheus, per_replica)
        assert len(counts) == REPLICAS and all(n > 0 for n in counts.values()), counts
        # the recorded breakdown (deploy/prometheus/rules.yml): every stage of /classify, over all replicas
        p50 = 'mva:stage_seconds:p50_1m{route="/classify"}'

        def stages() -> set[str]:
            answer = prometheus.get("/api/v1/query", params={"query": f"{p50} > 0"}).json()
            return {s["metric"]["stage"] for s in answer["data"]["result"]}

        expected = {"receive", "queue", "decode", "preprocess", "inference", "postprocess", "total"}
        _eventually(lambda: stages() >= expected, 30, f"recorded p50 > 0 for {sorted(expected)}")
        # the web UI (Debian's package serves Prometheus' classic one) graphs the same names
        ui = prometheus.get("/", follow_redirects=True)
        assert ui.status_code == 200 and "<title>Prometheus" in ui.text
