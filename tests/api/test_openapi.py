"""service/api/openapi.py through a real server: /openapi.json names the response headers the service
sends, for a client generated from it or a reader of /docs."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("path", "own"),
    [("/classify", {"Server-Timing"}), ("/detect", {"Server-Timing", "X-Faces"})],
)
def test_the_document_names_the_response_headers(client: httpx.Client, path: str, own: set[str]) -> None:
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    declared = {status: set(response.get("headers", {})) for status, response in responses.items()}
    assert declared["200"] == own | {"X-Request-ID", "X-Served-By"}
    assert declared["503"] == {"Retry-After", "X-Request-ID", "X-Served-By", "Server-Timing"}
    every = {"X-Request-ID", "X-Served-By", "Server-Timing"}  # an inference's error answers are timed too
    assert all(every <= headers for headers in declared.values()), declared
    assert all(
        header["schema"] == {"type": "string"} and header["description"]
        for response in responses.values()
        for header in response["headers"].values()
    )


@pytest.mark.parametrize("path", ["/classify", "/detect"])
def test_an_error_answer_s_server_timing_is_declared(client: httpx.Client, path: str) -> None:
    answer = client.post(path, content=b"not a picture", headers={"content-type": "image/jpeg"})
    assert answer.status_code == 415 and answer.json()["error"]["code"] == "unsupported_media_type"
    assert "total;dur=" in answer.headers["server-timing"]
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    assert "Server-Timing" in responses["415"]["headers"]
