"""API key (off by default; when set, required on inference and model routes) and CORS."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.artifacts import ArtifactLayout
from service.localserver import free_port, serve_command
from service.settings import PROJECT_ROOT
from tests.conftest import API_KEY, LiveServer
from tests.raw_http import connect, read_to_close


@pytest.fixture(scope="module")
def guarded_with_cors(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """conftest's `guarded` that also lets a page on https://app.example call it (CORS)."""
    return start_module_server(
        api_key=API_KEY, cors_origins='["https://app.example"]', warm_models='["mobilenet_v2"]'
    )


def test_no_key_needed_by_default(client: httpx.Client, images: Path) -> None:
    response = client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "Egyptian cat"
    assert client.get("/v1/models").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}])
def test_missing_or_wrong_key_is_401(
    guarded_with_cors: LiveServer, images: Path, headers: dict[str, str]
) -> None:
    with guarded_with_cors.client() as client:
        response = client.post(
            "/classify", headers=headers, files={"image": (images / "cat.bmp").read_bytes()}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert client.post("/detect", headers=headers, content=b"").status_code == 401
        assert client.get("/v1/models", headers=headers).status_code == 401
        assert client.get("/v1/manifest", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": API_KEY},
        {"authorization": f"Bearer {API_KEY}"},
        {"authorization": f"bearer   {API_KEY}"},
    ],
)
def test_right_key_is_let_in(guarded_with_cors: LiveServer, images: Path, headers: dict[str, str]) -> None:
    with guarded_with_cors.client() as client:
        response = client.post(
            "/classify", headers=headers, files={"image": (images / "cat.bmp").read_bytes()}
        )
        assert response.status_code == 200
        assert response.json()["predictions"][0]["label"] == "Egyptian cat"


def test_key_from_a_secret_file(
    start_server: Callable[..., LiveServer], images: Path, tmp_path: Path
) -> None:
    """MVA_API_KEY_FILE, as compose and Kubernetes mount it: the file's key (newline stripped) is the key."""
    secret = tmp_path / "api_key"
    secret.write_text("key-from-a-secret-file\n")
    server = start_server(api_key_file=str(secret), warm_models='["mobilenet_v2"]')
    picture = {"image": (images / "cat.bmp").read_bytes()}
    with server.client() as client:
        assert client.post("/classify", files=picture).status_code == 401
        assert client.post("/classify", headers={"x-api-key": "key"}, files=picture).status_code == 401
        response = client.post("/classify", headers={"x-api-key": "key-from-a-secret-file"}, files=picture)
        assert response.status_code == 200
        assert response.json()["predictions"][0]["label"] == "Egyptian cat"
        assert client.get("/healthz").status_code == 200


def test_a_key_from_the_environment_is_stripped_as_the_file_s_is(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    """MVA_API_KEY from a secret that ends in a newline (Kubernetes' secretKeyRef of a file written by
    `make api-key`): the newline was part of the key, which no client can send, so every request got
    401."""
    server = start_server(api_key="key-from-a-secret\n", warm_models='["mobilenet_v2"]')
    picture = {"image": (images / "cat.bmp").read_bytes()}
    with server.client() as client:
        response = client.post("/classify", headers={"x-api-key": "key-from-a-secret"}, files=picture)
        assert response.status_code == 200, response.text
        assert client.get("/v1/models", headers={"x-api-key": "key-from"}).status_code == 401


def test_a_key_that_is_not_ascii_is_matched_as_the_utf8_a_client_sends(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    key = "clé-secrète-ü"
    server = start_server(api_key=key, warm_models='["mobilenet_v2"]')
    picture = {"image": (images / "cat.bmp").read_bytes()}
    with server.client() as client:
        for headers in ({"x-api-key": key.encode()}, {"authorization": b"Bearer " + key.encode()}):
            response = client.post("/classify", headers=headers, files=picture)
            assert response.status_code == 200
            assert response.json()["predictions"][0]["label"] == "Egyptian cat"
        # the same characters as latin-1 bytes are another key
        assert client.get("/v1/models", headers={"x-api-key": key.encode("latin-1")}).status_code == 401


def test_a_missing_key_file_stops_the_server_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    result = subprocess.run(
        serve_command(free_port()),
        cwd=PROJECT_ROOT,
        env={**os.environ, "MVA_API_KEY_FILE": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: MVA_API_KEY_FILE '{missing}' cannot be read: No such file or directory\n"


def test_an_empty_key_stops_the_server() -> None:
    """MVA_API_KEY= would want a key that an empty `X-API-Key:` header matches: no start instead."""
    result = subprocess.run(
        serve_command(free_port()),
        cwd=PROJECT_ROOT,
        env={**os.environ, "MVA_API_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "error: MVA_API_KEY: is empty: set a key, or leave the variable unset for none\n"


def test_probes_metrics_the_page_and_its_model_files_stay_open(
    guarded_with_cors: LiveServer, layout: ArtifactLayout
) -> None:
    """README (Limits): with a key set, these still answer without it."""
    with guarded_with_cors.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "mva_requests_total" in metrics.text
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        model = client.get("/models/mobilenet_v2/int8.onnx")
        assert model.status_code == 200
        assert model.content == layout.onnx("mobilenet_v2", "int8").read_bytes()
        labels = client.get("/models/mobilenet_v2/labels.txt")
        assert labels.status_code == 200 and labels.text.splitlines()[653] == "military uniform"
        assert client.get("/openapi.json").status_code == 200
        docs = client.get("/docs")
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")


def test_cors_allows_only_the_configured_origin(guarded_with_cors: LiveServer) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "x-api-key"}
    with guarded_with_cors.client() as client:
        allowed = client.options("/classify", headers={"origin": "https://app.example", **preflight})
        assert allowed.status_code == 200 and allowed.text == "OK"  # Starlette's own answer, as it was
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        denied = client.options("/classify", headers={"origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in denied.headers


def test_a_page_on_an_allowed_origin_can_send_head_with_the_key(guarded_with_cors: LiveServer) -> None:
    """Every GET route answers HEAD, and a HEAD with `X-API-Key` is preflighted: the preflight asking
    for HEAD was a 400 "Disallowed CORS method", so the page's request never left the browser."""
    origin = {"origin": "https://app.example"}
    preflight = {"access-control-request-method": "HEAD", "access-control-request-headers": "x-api-key"}
    with guarded_with_cors.client() as client:
        allowed = client.options("/v1/models", headers=origin | preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        answer = client.head("/v1/models", headers=origin | {"x-api-key": API_KEY})
        assert answer.status_code == 200 and answer.content == b""
        assert answer.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize(
    ("origin", "method", "headers", "refused"),
    [
        ("https://evil.example", "POST", "x-api-key", "origin"),
        ("https://app.example", "DELETE", "x-api-key", "method"),
        ("https://app.example", "POST", "x-secret", "headers"),
    ],
)
def test_a_refused_preflight_is_a_json_400_like_every_other_error(
    guarded_with_cors: LiveServer, origin: str, method: str, headers: str, refused: str
) -> None:
    """Starlette's CORS middleware answers it in plain text ("Disallowed CORS origin")."""
    preflight = {"origin": origin, "access-control-request-method": method}
    with guarded_with_cors.client() as client:
        denied = client.options("/classify", headers=preflight | {"access-control-request-headers": headers})
    assert denied.status_code == 400
    assert denied.headers["content-type"] == "application/json"
    error = denied.json()["error"]
    assert (
        error["code"] == "cors_not_allowed"
        and error["message"] == f"preflight refused: Disallowed CORS {refused}"
    )
    if refused == "origin":
        assert "access-control-allow-origin" not in denied.headers
    assert "x-request-id" in denied.headers  # answered inside the middleware stack, like the others


def test_a_page_on_an_allowed_origin_can_send_and_read_the_request_id(
    guarded_with_cors: LiveServer, images: Path
) -> None:
    """The browser only lets a page send headers the preflight allows and read those the answer exposes."""
    origin = {"origin": "https://app.example"}
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "x-request-id"}
    with guarded_with_cors.client() as client:
        allowed = client.options("/classify", headers=origin | preflight)
        assert allowed.status_code == 200
        assert "x-request-id" in allowed.headers["access-control-allow-headers"].lower()
        answer = client.post(
            "/classify",
            headers=origin | {"x-api-key": API_KEY, "x-request-id": "page-1"},
            files={"image": (images / "cat.bmp").read_bytes()},
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "page-1"
        exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
        assert {"x-request-id", "server-timing", "x-served-by"} <= exposed


def test_a_page_on_an_allowed_origin_can_read_the_face_count_of_a_picture(
    guarded_with_cors: LiveServer, images: Path
) -> None:
    """An annotated /detect answer is a picture: the face count travels only in X-Faces."""
    with guarded_with_cors.client() as client:
        answer = client.post(
            "/detect?annotate=true",
            headers={"origin": "https://app.example", "x-api-key": API_KEY},
            files={"image": (images / "grace_hopper.bmp").read_bytes()},
        )
        assert answer.status_code == 200 and answer.headers["x-faces"] == "1"
        exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
        assert "x-faces" in exposed


def test_a_page_may_read_every_response_header_the_document_declares(guarded_with_cors: LiveServer) -> None:
    """One list (service/api/openapi.py) for both: a header added to the service is exposed too."""
    with guarded_with_cors.client() as client:
        answer = client.get("/openapi.json", headers={"origin": "https://app.example"})
    declared = {
        name.lower()
        for operations in answer.json()["paths"].values()
        for operation in operations.values()
        for response in operation["responses"].values()
        for name in response.get("headers", {})
    }
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert exposed == declared, (exposed, declared)


def test_openapi_declares_the_key_only_when_the_server_wants_one(
    guarded_with_cors: LiveServer, client: httpx.Client
) -> None:
    """So Swagger UI's "Authorize" (/docs) sends the key; without a key the document claims no security."""
    with guarded_with_cors.client() as keyed:
        document = keyed.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/classify"]["post"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]
    plain = client.get("/openapi.json").json()
    assert "securitySchemes" not in plain["components"]
    assert "security" not in plain["paths"]["/classify"]["post"]


@pytest.mark.parametrize(
    "field", [f"X-API-Key: {API_KEY} ", f"X-API-Key: {API_KEY}\t", f"Authorization: Bearer {API_KEY} "]
)
def test_whitespace_after_the_key_is_no_part_of_it(guarded_with_cors: LiveServer, field: str) -> None:
    """RFC 9112 5.1: the field value excludes the whitespace around it, whichever HTTP parser the server
    runs (httptools, the default, kept it). Sent by a socket: httpx refuses to send such a header."""
    with connect(guarded_with_cors.port) as sock:
        sock.sendall(f"GET /v1/manifest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{field}\r\n\r\n".encode())
        reply = read_to_close(sock)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
