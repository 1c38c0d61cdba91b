"""service/api/malformed_http/ through real servers, one per HTTP parser (`serve --http`): a request
uvicorn cannot parse gets the service's JSON error shape, not uvicorn's plain text, and its connection
closed; the server keeps serving. It is recorded as the app's requests are (request ID, replica,
/metrics, access log), though the app never sees it. Played by a socket: httpx sends valid HTTP only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from service.api.malformed_http import MESSAGE
from tests.conftest import LiveServer, access_lines, metric
from tests.raw_http import connect, read_to_close

MALFORMED = {
    "request line": b"NOT HTTP\r\n\r\n",
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "two content lengths": (
        b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    ),
}
REPLICA = "replica-m"
COUNTER = "mva_malformed_requests_total"


@pytest.fixture(scope="module", params=["httptools", "h11"])
def parser_server(
    request: pytest.FixtureRequest, start_module_server: Callable[..., LiveServer]
) -> LiveServer:
    """The service under `serve --http httptools` (the default) or `--http h11` (MVA_HTTP), its access
    log on."""
    return start_module_server(http=request.param, warm_models="[]", access_log="true", replica=REPLICA)


def _answer(server: LiveServer, request: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """The answer to `request`, once the server has closed the connection: (its fields, its body)."""
    with connect(server.port) as sock:
        sock.sendall(request)
        reply = read_to_close(sock)  # returns only once the server closes
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply
    fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    return fields, body


def _scrape(server: LiveServer) -> str:
    with server.client() as client:
        return client.get("/metrics").text


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_request_uvicorn_cannot_parse_gets_a_json_400(parser_server: LiveServer, case: str) -> None:
    fields, body = _answer(parser_server, MALFORMED[case])
    assert fields[b"content-type"] == b"application/json" and fields[b"connection"] == b"close", fields
    assert json.loads(body) == {"error": {"code": "bad_request", "message": MESSAGE}}
    # as on every answer of the app's (service/api/middleware.py)
    assert re.fullmatch(rb"[0-9a-f]{16}", fields[b"x-request-id"]), fields
    assert fields[b"x-served-by"] == REPLICA.encode()
    with parser_server.client() as client:
        assert client.get("/healthz").status_code == 200


def test_a_request_uvicorn_cannot_parse_is_counted_and_logged(parser_server: LiveServer) -> None:
    """An operator sees clients that send broken HTTP: /metrics counts them, the access log names
    them (its usual fields; what the unparsed request did not say is null) by the answer's request ID."""
    before = metric(_scrape(parser_server), COUNTER)
    answers = [_answer(parser_server, MALFORMED[case]) for case in sorted(MALFORMED)]
    assert metric(_scrape(parser_server), COUNTER) == before + len(MALFORMED)

    with parser_server.client() as client:  # a line of the app's own, for its shape
        assert client.get("/no-such-page").status_code == 404
    [usual] = access_lines(parser_server, 1, path="/no-such-page")
    for fields, body in answers:
        rid = fields[b"x-request-id"].decode()
        [line] = access_lines(parser_server, 1, request_id=rid)
        assert list(line) == list(usual)
        assert line["status"] == 400 and line["bytes_out"] == len(body)
        assert line["client"] == "127.0.0.1" and line["replica"] == REPLICA
        assert [line[key] for key in ("method", "path", "query", "route", "ms")] == [None] * 5
