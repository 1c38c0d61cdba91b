"""service/api/openapi.py through a real server: /openapi.json names the response headers the service
sends, for a client generated from it or a reader of /docs."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API_KEY, LiveServer


@pytest.mark.parametrize(
    ("path", "own"),
    [("/classify", {"Server-Timing"}), ("/detect", {"Server-Timing", "X-Faces"})],
)
def test_the_document_names_the_response_headers(client: httpx.Client, path: str, own: set[str]) -> None:
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    declared = {status: set(response.get("headers", {})) for status, response in responses.items()}
    assert declared["200"] == own | {"X-Request-ID", "X-Served-By"}
    assert declared["503"] == {"Retry-After", "X-Request-ID", "X-Served-By", "Server-Timing"}
    assert all({"X-Request-ID", "X-Served-By"} <= headers for headers in declared.values()), declared
    # an inference's error answers are timed too, but the two given before its timer starts
    untimed = {status for status, headers in declared.items() if "Server-Timing" not in headers}
    assert untimed == {"401", "404"}, declared
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


@pytest.mark.parametrize("path", ["/classify", "/detect"])
def test_server_timing_is_not_declared_on_the_answers_that_never_carry_it(
    guarded: LiveServer, path: str
) -> None:
    """A 401 (the API key) and a 404 (the model's name) are answered before the inference's timer
    starts: they carry no Server-Timing, and the document said they did."""
    picture = {"content-type": "image/jpeg"}
    with guarded.client() as client:
        refused = client.post(path, content=b"x", headers=picture)
        unknown = client.post(f"{path}?model=nope", content=b"x", headers={**picture, "x-api-key": API_KEY})
        responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    assert (refused.status_code, unknown.status_code) == (401, 404)
    for answer in (refused, unknown):
        assert "server-timing" not in answer.headers
        declared = responses[str(answer.status_code)]["headers"]
        assert "Server-Timing" not in declared and "X-Request-ID" in declared, declared
