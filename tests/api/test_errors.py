"""An unexpected exception: a 500 in the JSON error shape, and a log line that names the request."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.api.errors import HTTP_ERROR_CODES
from service.artifacts import ArtifactLayout
from service.errors import ServiceError
from service.settings import PROJECT_ROOT, ServerSettings
from tests.conftest import LiveServer, server_timing
from tests.readme import paragraphs, section


def test_an_unexpected_error_is_a_json_500_logged_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ServerSettings(warm_models=[]))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/boom", headers={"X-Request-ID": "trace-7"})

    with caplog.at_level(logging.ERROR, logger="mobile_vision_api"):
        response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    record = next(r for r in caplog.records if r.name == "mobile_vision_api")
    assert "GET /boom" in record.getMessage() and "trace-7" in record.getMessage()
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])


def test_a_500_carries_the_cors_headers_a_page_on_an_allowed_origin_needs_to_read_it() -> None:
    """Starlette answers it from outside the CORS middleware: without them the browser hides the
    answer, request ID included, from the page."""
    app = create_app(ServerSettings(warm_models=[], cors_origins=["https://app.example"]))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async def call(origin: str, path: str = "/boom") -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers={"Origin": origin, "X-Request-ID": "trace-8"})

    allowed = asyncio.run(call("https://app.example"))
    assert allowed.status_code == 500 and allowed.json()["error"]["code"] == "internal_error"
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].split(", ")
    assert allowed.headers["vary"] == "Origin"
    other = asyncio.run(call("https://elsewhere.example"))
    assert other.status_code == 500 and "access-control-allow-origin" not in other.headers
    # the same as the CORS middleware gives an answer it sees
    missing = asyncio.run(call("https://app.example", "/nope"))
    assert missing.status_code == 404
    for name in ("access-control-allow-origin", "access-control-expose-headers", "vary"):
        assert missing.headers[name] == allowed.headers[name]


def test_a_500_from_a_real_server_carries_its_request_id_and_replica(
    start_server: Callable[..., LiveServer], layout: ArtifactLayout, tmp_path: Path, images: Path
) -> None:
    """A model file that is corrupt and first read by a request (fp32 is not warmed up) fails in a way
    no handler expects: the 500 is answered from outside the middleware, and still names the request."""
    models = tmp_path / "models"
    # links, not copies: only the corrupt file is written
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"), copy_function=os.symlink)
    corrupt = models / "build" / "mobilenet_v2" / "fp32.onnx"
    corrupt.unlink()
    corrupt.write_bytes(b"this is not an onnx model")
    server = start_server(models_dir=str(models), replica="replica-b", warm_models='["mobilenet_v2"]')
    with server.client() as client:
        response = client.post(
            "/classify",
            params={"precision": "fp32"},
            headers={"X-Request-ID": "trace-500"},
            files={"image": (images / "cat.bmp").read_bytes()},
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert response.headers["x-request-id"] == "trace-500"
        assert response.headers["x-served-by"] == "replica-b"
        # the runner's build failed: where the request's time went, as far as it got
        assert list(server_timing(response)) == ["receive", "queue", "load", "total"]
        # the error ends in the app, so the connection stays open for the next request
        assert 'mva_requests_total{route="/classify",status="500"} 1.0' in client.get("/metrics").text
    log = server.log_path.read_text()
    assert "X-Request-ID trace-500" in log
    # one record, ours, with the traceback: Starlette re-raises the error for the server to log again
    assert log.count("Traceback (most recent call last)") == 1
    assert "Exception in ASGI application" not in log


def _codes_of(error: type[ServiceError]) -> set[str]:
    return {code for sub in error.__subclasses__() for code in {sub.code, *_codes_of(sub)}}


def test_the_readme_lists_every_error_code_the_service_answers() -> None:
    """README, "API": a client switches on `code`; one the paragraph leaves out (unauthorized,
    not_found, method_not_allowed, internal_error were) is one it does not know to handle. The codes:
    every ServiceError (create_app imports the modules that define theirs), Starlette's errors in our
    shape, and each literal code given to error_response."""
    create_app(ServerSettings(warm_models=[]))
    sources = "".join(path.read_text() for path in (PROJECT_ROOT / "service").rglob("*.py"))
    literal = set(re.findall(r'error_response\(\s*\d+,\s*"(\w+)"', sources))
    codes = _codes_of(ServiceError) | set(HTTP_ERROR_CODES.values()) | literal
    assert {"unauthorized", "precondition_failed", "internal_error", "cors_not_allowed"} <= codes
    paragraph = next(text for text in paragraphs(section("### API")) if text.startswith("Errors are JSON "))
    assert {code for code in codes if f"`{code}`" not in paragraph} == set()


@pytest.mark.parametrize(("path", "query"), [("/classify", "simd=maybe"), ("/detect", "annotate=maybe")])
def test_a_boolean_parameter_that_is_none_says_what_it_takes(
    client: httpx.Client, images: Path, path: str, query: str
) -> None:
    """pydantic's "Input should be a valid boolean, unable to interpret input" did not say what to write;
    README says on / off."""
    response = client.post(f"{path}?{query}", files={"image": (images / "face.jpg").read_bytes()})
    error = response.json()["error"]
    name = query.partition("=")[0]
    assert (response.status_code, error["code"], error["field"]) == (422, "invalid_parameter", name)
    assert error["message"] == (
        f"{name}: Input should be a valid boolean, unable to interpret input: on or off (also true/false, "
        "yes/no, 1/0)"
    )
