"""service/api/routes/__init__.py: HEAD is answered wherever GET is, with GET's status and headers and
no body; it is not an operation of its own in the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from service.api.app import create_app
from service.settings import ServerSettings
from tests.readme import paragraphs, section

GET_PATHS = [
    "/",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/models",
    "/v1/manifest",
    "/web/app.mjs",
    "/web/vendor/ort-wasm-simd.wasm",
    "/models/mobilenet_v2/int8.onnx",
    "/models/mobilenet_v2/labels.txt",
    "/web/no-such-file.js",  # errors too: HEAD gets GET's 404
]
SAME_HEADERS = ("content-type", "content-length", "etag", "content-encoding", "vary", "cache-control")


@pytest.mark.parametrize("path", GET_PATHS)
def test_head_is_get_without_the_body(client: httpx.Client, path: str) -> None:
    headers = {"Accept-Encoding": "br, gzip"}
    got, head = client.get(path, headers=headers), client.head(path, headers=headers)
    assert head.status_code == got.status_code and head.content == b""
    # /metrics counts this very request, so its length moves; everything else is the same bytes
    for name in SAME_HEADERS if path != "/metrics" else ("content-type",):
        assert head.headers.get(name) == got.headers.get(name), name


@pytest.mark.parametrize("path", GET_PATHS)
def test_a_405_on_a_get_route_allows_head_too(client: httpx.Client, path: str) -> None:
    """RFC 9110: a 405's Allow lists every method the path answers."""
    response = client.post(path, content=b"x")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert client.get(path).status_code == client.head(path).status_code


def test_head_on_a_post_route_is_405(client: httpx.Client) -> None:
    response = client.head("/classify")
    assert response.status_code == 405 and "POST" in response.headers["allow"]


def test_head_is_not_an_operation_in_the_openapi_document(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/healthz"].keys() == {"get"}
    assert all("head" not in operations for operations in paths.values())


def test_the_readmes_api_table_names_every_route_of_the_openapi_document() -> None:
    """README, "API": a route the table leaves out is one a user does not know to call (the model files
    were missing). The document's `{name}` is the table's `<name>`."""
    table = paragraphs(section("### API"))[0]
    document = create_app(ServerSettings(warm_models=[])).openapi()
    routes = {
        f"`{method.upper()} {path.replace('{', '<').replace('}', '>')}`"
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert {route for route in routes if route not in table} == set()
