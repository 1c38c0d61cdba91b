"""service/api/malformed_http/ through real servers, one per HTTP parser (`serve --http`): a request
uvicorn cannot parse gets the service's JSON error shape, not uvicorn's plain text, and its connection
closed; the server keeps serving. Played by a socket: httpx sends valid HTTP only."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from service.api.malformed_http import MESSAGE
from tests.conftest import LiveServer
from tests.raw_http import connect, read_to_close

MALFORMED = {
    "request line": b"NOT HTTP\r\n\r\n",
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "two content lengths": (
        b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    ),
}


@pytest.fixture(scope="module", params=["httptools", "h11"])
def parser_server(
    request: pytest.FixtureRequest, start_module_server: Callable[..., LiveServer]
) -> LiveServer:
    """The service under `serve --http httptools` (the default) or `--http h11` (MVA_HTTP)."""
    return start_module_server(http=request.param, warm_models="[]")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_request_uvicorn_cannot_parse_gets_a_json_400(parser_server: LiveServer, case: str) -> None:
    with connect(parser_server.port) as sock:
        sock.sendall(MALFORMED[case])
        reply = read_to_close(sock)  # returns only once the server closes
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply
    fields = head.lower().split(b"\r\n")[1:]
    assert b"content-type: application/json" in fields and b"connection: close" in fields, head
    assert json.loads(body) == {"error": {"code": "bad_request", "message": MESSAGE}}
    with parser_server.client() as client:
        assert client.get("/healthz").status_code == 200
