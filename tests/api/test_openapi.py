"""service/api/openapi.py through a real server: /openapi.json names the response headers the service
sends, for a client generated from it or a reader of /docs."""

from __future__ import annotations

import pytest

from tests.conftest import API_KEY, LiveServer


@pytest.mark.parametrize(
    ("path", "own"),
    [("/classify", {"Server-Timing"}), ("/detect", {"Server-Timing", "X-Faces"})],
)
def test_the_document_names_the_response_headers_the_answers_carry(
    guarded: LiveServer, path: str, own: set[str]
) -> None:
    """A server with an API key, for a live 401 (the document's headers do not depend on the key). A 401
    (the API key) and a 404 (the model's name) are answered before the inference's timer starts: they
    carry no Server-Timing, and the document said they did; a 415 is timed and says so."""
    picture = {"content-type": "image/jpeg"}
    with guarded.client() as client:
        responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
        refused = client.post(path, content=b"x", headers=picture)
        keyed = {**picture, "x-api-key": API_KEY}
        unknown = client.post(f"{path}?model=nope", content=b"x", headers=keyed)
        not_a_picture = client.post(path, content=b"not a picture", headers=keyed)
        # the query's values are validated before the timer starts, the settings they make after it
        invalid_value = client.post(f"{path}?engine=foo", content=b"x", headers=keyed)
        invalid_settings = client.post(f"{path}?simd=off", content=b"x", headers=keyed)
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
    assert (refused.status_code, unknown.status_code) == (401, 404)
    assert "server-timing" not in refused.headers and "server-timing" not in unknown.headers
    assert not_a_picture.status_code == 415, not_a_picture.text
    assert not_a_picture.json()["error"]["code"] == "unsupported_media_type"
    assert "total;dur=" in not_a_picture.headers["server-timing"]
    assert "Server-Timing" in declared["415"]
    assert invalid_value.json()["error"]["code"] == "invalid_parameter"
    assert "server-timing" not in invalid_value.headers
    assert invalid_settings.json()["error"]["code"] == "invalid_settings"
    assert "total;dur=" in invalid_settings.headers["server-timing"]
    description = responses["422"]["headers"]["Server-Timing"]["description"]
    assert "not on what is refused before it, a 422 `invalid_parameter`" in description
