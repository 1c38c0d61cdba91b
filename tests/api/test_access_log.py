"""Request IDs on every response, and the JSON access log (MVA_ACCESS_LOG) of a real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.api.access_log import AccessLog, request_id
from tests.conftest import LiveServer, access_lines
from tests.raw_http import connect, read_to_close


def test_every_response_has_a_request_id_and_the_log_is_off_by_default(
    client: httpx.Client, server: LiveServer
) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    for response in (first, second):
        assert re.fullmatch("[0-9a-f]{16}", response.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert client.get("/healthz", headers={"X-Request-ID": "lb-42"}).headers["x-request-id"] == "lb-42"
    assert not any(line.startswith("{") for line in server.log_path.read_text().splitlines())


def test_access_log_writes_one_json_line_per_request(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    server = start_server(access_log="true", replica="replica-a")
    with server.client() as client:
        ok = client.post(
            "/classify",
            params={"top_k": 1},
            headers={"X-Request-ID": "nginx-0f3a"},
            files={"image": ("cat.bmp", (images / "cat.bmp").read_bytes())},
        )
        refused = client.post("/classify", content=b"not an image", headers={"content-type": "text/plain"})
        assert client.get("/healthz").status_code == 200  # a probe: not logged
        # logged after the probe: once its line is there, the probe's would be too
        assert client.get("/no-such-page").status_code == 404
    assert ok.status_code == 200 and refused.status_code == 415
    assert ok.headers["x-served-by"] == refused.headers["x-served-by"] == "replica-a"  # MVA_REPLICA
    lines = access_lines(server, 2, path="/classify")
    assert len(lines) == 2, lines
    logged_ok, logged_refused = lines
    assert logged_ok["request_id"] == "nginx-0f3a" == ok.headers["x-request-id"]
    assert (logged_ok["method"], logged_ok["path"], logged_ok["route"]) == ("POST", "/classify", "/classify")
    assert (logged_ok["status"], logged_ok["query"], logged_ok["replica"]) == (200, "top_k=1", "replica-a")
    assert logged_ok["bytes_out"] == len(ok.content)
    # the server's own time for the request covers at least its reported stages
    assert logged_ok["ms"] >= ok.json()["timing"]["total"]
    assert logged_ok["client"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", logged_ok["time"])
    assert logged_refused["status"] == 415
    assert logged_refused["request_id"] == refused.headers["x-request-id"]
    # probes are logged only when they fail (a 503 while warming up would be)
    assert [line["status"] for line in access_lines(server, 1, path="/no-such-page")] == [404]
    assert access_lines(server, 0, path="/healthz") == []


def test_whitespace_after_the_callers_request_id_is_no_part_of_it(server: LiveServer) -> None:
    """RFC 9112 5.1; httptools, the default parser, hands the trailing whitespace on, and the caller's
    ID was replaced by a new one. Sent by a socket: httpx refuses to send such a header."""
    with connect(server.port) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-ID: lb-42 \t\r\n\r\n"
        )
        reply = read_to_close(sock)
    assert b"\r\nx-request-id: lb-42\r\n" in reply.partition(b"\r\n\r\n")[0], reply[:300]


def test_an_unsafe_request_id_is_replaced_not_echoed() -> None:
    def scope(value: bytes) -> dict:
        return {"headers": [(b"host", b"x"), (b"x-request-id", value)]}

    assert request_id(scope(b"abc-123_4.5:6")) == "abc-123_4.5:6"
    for unsafe in (b'a" injected', b"line\nbreak", b"x" * 65, b"", "é".encode()):
        replaced = request_id(scope(unsafe))
        assert re.fullmatch("[0-9a-f]{16}", replaced), unsafe


def test_the_request_id_is_read_from_the_scope_s_headers_in_place() -> None:
    """Every request passes here: `Headers(scope=scope)` copied the header list (and put the copy in
    the scope) each time."""
    raw = [(b"host", b"x"), (b"x-request-id", b"lb-7")]
    scope = {"headers": raw}
    assert request_id(scope) == "lb-7" and scope["headers"] is raw


def test_generated_request_ids_differ_also_across_a_fork() -> None:
    """They come from a generator seeded once per process (no system call per request), and again in a
    forked child, so two processes never hand out the same sequence."""
    ids = {request_id({"headers": []}) for _ in range(10_000)}
    assert len(ids) == 10_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next IDs, then out without running the parent's cleanup
        os.write(write, ",".join(request_id({"headers": []}) for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 1000).decode().split(",")
    os.close(read)
    parent = [request_id({"headers": []}) for _ in range(3)]
    assert len(child) == 3 and not set(child) & set(parent)


def test_lines_are_written_together_once_flush_s_has_passed(capsys: pytest.CaptureFixture[str]) -> None:
    """One write for the lines of FLUSH_S (a write on the event loop gives up the GIL), scheduled by
    the first line; what is left at exit is written by the atexit hook, flush()."""
    log = AccessLog("r")
    scope = {"method": "POST", "path": "/classify", "query_string": b"top_k=1", "client": ("10.0.0.9", 1)}

    async def requests() -> str:
        for n in range(3):
            log.write(scope, f"id{n}", "/classify", 200, time.perf_counter(), 10)
        before = capsys.readouterr().out
        await asyncio.sleep(AccessLog.FLUSH_S * 2)
        return before

    assert asyncio.run(requests()) == ""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["request_id"] for line in lines] == ["id0", "id1", "id2"]
    assert lines[0]["client"] == "10.0.0.9" and lines[0]["query"] == "top_k=1"

    async def last_request() -> None:
        log.write(scope, "last", "/classify", 503, time.perf_counter(), 10)

    asyncio.run(last_request())  # its loop is gone before the flush was due
    log.flush()
    assert json.loads(capsys.readouterr().out)["request_id"] == "last"
