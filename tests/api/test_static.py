"""service/api/static.py through a real server: how a file answers a `Range` request (a browser's or a
download manager's resumed download, a media element seeking)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from service.api.ranges import ByteRange
from service.api.static import ETags, file_response, inside
from service.artifacts import ArtifactLayout
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.inprocess import serving
from tests.raw_http import connect, read_to_close

PAGE_FILE = "/web/app.mjs"  # one with brotli and gzip copies
PAGE_BYTES = (PROJECT_ROOT / "web" / "dist" / "app.mjs").read_bytes()
AS_IS = {"Accept-Encoding": "identity"}


def test_a_resumed_download_gets_the_rest_of_the_file(client: httpx.Client) -> None:
    etag = client.get(PAGE_FILE, headers=AS_IS).headers["etag"]
    rest = client.get(PAGE_FILE, headers={**AS_IS, "Range": "bytes=1000-", "If-Range": etag})
    assert rest.status_code == 206
    assert rest.content == PAGE_BYTES[1000:]
    assert rest.headers["content-range"] == f"bytes 1000-{len(PAGE_BYTES) - 1}/{len(PAGE_BYTES)}"
    assert rest.headers["cross-origin-resource-policy"] == "same-origin"


def test_a_range_of_a_compressed_copy_is_a_range_of_its_bytes(
    client: httpx.Client, layout: ArtifactLayout
) -> None:
    gzipped = layout.onnx("mobilenet_v2", "int8").with_suffix(".onnx.gz").read_bytes()
    with client.stream("GET", "/models/mobilenet_v2/int8.onnx", headers={"Range": "bytes=-100"}) as tail:
        assert tail.status_code == 206 and tail.headers["content-encoding"] == "gzip"
        assert b"".join(tail.iter_raw()) == gzipped[-100:]


@pytest.mark.parametrize(
    "range_header",
    [
        "items=0-9",  # a unit the server does not know: RFC 9110 14.2 says ignore it
        "bytes=5-2",  # last before first: an invalid range set, which the server may ignore
        "bytes=abc",
    ],
)
def test_a_range_the_server_cannot_use_gets_the_whole_file(client: httpx.Client, range_header: str) -> None:
    """Starlette's FileResponse answered these with a plain-text 400 ("Only support bytes range"): a
    client that asked for a part got neither the file nor a JSON error."""
    response = client.get(PAGE_FILE, headers={**AS_IS, "Range": range_header})
    assert response.status_code == 200
    assert response.content == PAGE_BYTES
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("range_header", "sent"),
    [
        ("bytes=0-9" + "," * 100, slice(0, 10)),  # empty list elements, which RFC 9110 5.6.1 allows
        ("bytes=" + ",".join(["5-9"] * 101), slice(5, 10)),  # the same range over and over
        ("bytes=0-9," + ",".join(f"{i}-{i}" for i in range(100)), slice(0, 100)),  # overlapping ones
        ("bytes=0-9, 999999999-", slice(0, 10)),  # one in the file, one past its end (RFC 9110 14.1.1)
    ],
)
def test_the_range_sent_is_the_one_our_parse_decided_on(
    client: httpx.Client, range_header: str, sent: slice
) -> None:
    """Our parse said 206 with these bytes; FileResponse parsed the header again and, on more than
    100 list elements, sent the whole file, and on a range past the end answered 416 for all."""
    response = client.get(PAGE_FILE, headers={**AS_IS, "Range": range_header})
    assert response.status_code == 206
    assert response.content == PAGE_BYTES[sent]
    assert response.headers["content-range"] == f"bytes {sent.start}-{sent.stop - 1}/{len(PAGE_BYTES)}"


def byteranges(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The parts of a multipart/byteranges answer: (head, bytes) each, in the order sent."""
    media_type, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert media_type == "multipart/byteranges"
    parts = response.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--"  # nothing before the first boundary, the closing one
    split = [part.partition(b"\r\n\r\n") for part in parts[1:-1]]
    assert all(body.endswith(b"\r\n") for _, _, body in split)
    return [(head, body.removesuffix(b"\r\n")) for head, _, body in split]


def test_several_ranges_go_out_as_multipart_byteranges(client: httpx.Client) -> None:
    response = client.get(PAGE_FILE, headers={**AS_IS, "Range": "bytes=-10, 100-119, 0-9"})
    assert response.status_code == 206
    size = len(PAGE_BYTES)
    expected = [(0, 10), (100, 120), (size - 10, size)]  # in file order
    for (head, body), (start, end) in zip(byteranges(response), expected, strict=True):
        assert f"Content-Range: bytes {start}-{end - 1}/{size}".encode() in head
        assert body == PAGE_BYTES[start:end]


def test_a_range_past_the_end_is_a_json_416_saying_the_size(client: httpx.Client) -> None:
    for accept, size in (
        ("identity", len(PAGE_BYTES)),
        ("br", len((PROJECT_ROOT / "web/dist/app.mjs.br").read_bytes())),
    ):
        response = client.get(PAGE_FILE, headers={"Accept-Encoding": accept, "Range": "bytes=999999999-"})
        assert response.status_code == 416
        assert response.json()["error"]["code"] == "range_not_satisfiable"
        assert response.headers["content-range"] == f"bytes */{size}"  # of the representation asked for
        assert "content-encoding" not in response.headers  # the JSON is not brotli
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert "x-request-id" in response.headers


def test_if_range_naming_another_version_gets_the_whole_file(client: httpx.Client) -> None:
    """RFC 9110 13.1.5: the client's part is of a file that changed; a range, or a 416 for one past
    the new end, would be spliced onto it."""
    for range_header in ("bytes=1000-", "bytes=999999999-"):
        headers = {**AS_IS, "Range": range_header, "If-Range": '"an-older-version"'}
        response = client.get(PAGE_FILE, headers=headers)
        assert response.status_code == 200 and response.content == PAGE_BYTES


def test_whitespace_after_the_if_range_etag_is_no_part_of_it(
    server: LiveServer, client: httpx.Client
) -> None:
    """RFC 9112 5.1; httptools, the default parser, hands the trailing whitespace on, and the ETag
    compared whole with it named another version: the whole file went out instead of the rest. Sent
    by a socket: httpx refuses to send such a header."""
    etag = client.get(PAGE_FILE, headers=AS_IS).headers["etag"]
    with connect(server.port) as sock:
        sock.sendall(
            f"GET {PAGE_FILE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept-Encoding: identity\r\n"
            f"Range: bytes=1000-\r\nIf-Range: {etag} \t\r\n\r\n".encode()
        )
        reply = read_to_close(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206"), head
    assert body == PAGE_BYTES[1000:]


def test_if_modified_since_alone_revalidates_with_304(client: httpx.Client) -> None:
    """Every file answer carries Last-Modified (FileResponse's); a client or cache that kept only that
    (curl -z, a proxy) sent it back as If-Modified-Since and got the whole file again each time."""
    first = client.get(PAGE_FILE, headers=AS_IS)
    last_modified = first.headers["last-modified"]
    again = client.get(PAGE_FILE, headers={**AS_IS, "If-Modified-Since": last_modified})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.head(PAGE_FILE, headers={**AS_IS, "If-Modified-Since": last_modified}).status_code == 304


@pytest.mark.parametrize(
    "conditions",
    [
        {"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"},  # changed since
        {"If-Modified-Since": "not a date"},  # RFC 9110 13.1.3: ignored
        # If-None-Match decides when sent: If-Modified-Since is then ignored (RFC 9110 13.1.3)
        {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT", "If-None-Match": '"another"'},
    ],
)
def test_a_file_changed_since_or_another_version_is_sent(
    client: httpx.Client, conditions: dict[str, str]
) -> None:
    response = client.get(PAGE_FILE, headers={**AS_IS, **conditions})
    assert response.status_code == 200 and response.content == PAGE_BYTES


@pytest.mark.parametrize(
    "conditions",
    [
        {"If-Match": '"an-older-version"'},
        {"If-Match": "W/{etag}"},  # If-Match compares strongly: a weak tag never matches
        {"If-Unmodified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"},
        # If-Match decides when sent: If-Unmodified-Since is then ignored (RFC 9110 13.1.4)
        {"If-Match": '"an-older-version"', "If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    ],
)
def test_a_file_not_the_version_a_precondition_names_is_412(
    client: httpx.Client, conditions: dict[str, str]
) -> None:
    """RFC 9110 13.1.1: an origin server MUST evaluate If-Match. Both were ignored: a client resuming
    with If-Match of the version it holds got a range of another one to splice onto it."""
    etag = client.get(PAGE_FILE, headers=AS_IS).headers["etag"]
    headers = {**AS_IS, "Range": "bytes=1000-", **{k: v.format(etag=etag) for k, v in conditions.items()}}
    response = client.get(PAGE_FILE, headers=headers)
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert response.headers["etag"] == etag  # the version there is
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


@pytest.mark.parametrize(
    "conditions",
    [
        {"If-Match": "{etag}"},
        {"If-Match": '"another", {etag}'},
        {"If-Match": "*"},
        {"If-Unmodified-Since": "{lm}"},
    ],
)
def test_a_file_that_is_the_version_a_precondition_names_is_sent(
    client: httpx.Client, conditions: dict[str, str]
) -> None:
    first = client.get(PAGE_FILE, headers=AS_IS)
    known = {"etag": first.headers["etag"], "lm": first.headers["last-modified"]}
    headers = {**AS_IS, "Range": "bytes=1000-", **{k: v.format(**known) for k, v in conditions.items()}}
    response = client.get(PAGE_FILE, headers=headers)
    assert response.status_code == 206 and response.content == PAGE_BYTES[1000:]


def renamed_over(path: Path, content: bytes) -> None:
    """A rebuild as the model build and web/build.mjs write a file: aside, then renamed into place."""
    aside = path.with_name(path.name + ".tmp")
    aside.write_bytes(content)
    aside.replace(path)


def deleted_and_recopied(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


Rebuild = Callable[[Path], None]


@dataclass
class Rebuilt:
    """A page file served by file_response on a real server in this process, and the rebuilds run on it
    after file_response has answered for it and before that answer goes out (`after_answer`), or after
    the route found it and before file_response (`after_check`): a deterministic rebuild in mid-request.
    `answered` is released each time the server is done with a request (the answer sent, or the client
    gone)."""

    client: httpx.Client
    path: Path
    after_answer: list[Rebuild] = field(default_factory=list)
    after_check: list[Rebuild] = field(default_factory=list)
    answered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


@pytest.fixture
def rebuilt(tmp_path: Path) -> Iterator[Rebuilt]:
    page = tmp_path / "app.mjs"
    page.write_bytes(FIRST_BUILD)
    etags = ETags()

    async def answer(request: Request) -> Response:
        path = inside(tmp_path, page.name)  # as service/api/routes/web.py finds a page file
        assert path is not None
        while served.after_check:
            served.after_check.pop(0)(path)
        response = await file_response(request, path, etags)
        while served.after_answer:
            served.after_answer.pop(0)(page)
        return response

    routes = Starlette(routes=[Route("/app.mjs", answer, methods=["GET", "HEAD"])])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await routes(scope, receive, send)
        finally:
            if scope["type"] == "http":
                served.answered.release()

    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        served = Rebuilt(client, page)
        yield served


FIRST_BUILD = b"export const version = 'the first build';\n" * 100
OTHER_BUILD = b"export const version = 'the other build';\n" * 100  # as long: only the bytes tell them apart


def test_a_rebuild_in_mid_request_never_mixes_two_versions_in_one_answer(rebuilt: Rebuilt) -> None:
    """The file was stat-ed for its ETag, again for If-Modified-Since, again for the Range, and once more
    by FileResponse: an answer could carry the first build's ETag with the second build's size in
    Content-Range and Content-Length, which a client resuming with If-Range would splice."""
    first = rebuilt.path.read_bytes()
    whole = rebuilt.client.get("/app.mjs")
    etag, last_modified = whole.headers["etag"], whole.headers["last-modified"]
    rebuilt.after_answer.append(
        lambda path: renamed_over(path, b"export const version = 'the second build';\n")
    )
    headers = {"Range": "bytes=100-", "If-Range": etag, "Accept-Encoding": "identity"}
    part = rebuilt.client.head("/app.mjs", headers=headers)
    assert part.status_code == 206
    assert part.headers["etag"] == etag
    assert part.headers["content-range"] == f"bytes 100-{len(first) - 1}/{len(first)}"
    assert part.headers["content-length"] == str(len(first) - 100)
    assert part.headers["last-modified"] == last_modified


@pytest.mark.parametrize("rebuild", [renamed_over, deleted_and_recopied])
@pytest.mark.parametrize(
    ("range_header", "sent"),
    [
        (None, [(0, len(FIRST_BUILD))]),
        ("bytes=100-", [(100, len(FIRST_BUILD))]),
        ("bytes=0-9,-10", [(0, 10), (len(FIRST_BUILD) - 10, len(FIRST_BUILD))]),
    ],
)
def test_a_rebuild_after_the_headers_were_decided_sends_the_bytes_they_describe(
    rebuilt: Rebuilt, rebuild: Callable[[Path, bytes], None], range_header: str | None, sent: list[ByteRange]
) -> None:
    """FileResponse opened the path again to send the body: the headers said the first build, the bytes
    were the other one's (or cut short, or too long for Content-Length: a broken answer)."""
    rebuilt.after_answer.append(lambda path: rebuild(path, OTHER_BUILD))
    headers = {**AS_IS, **({"Range": range_header} if range_header else {})}
    response = rebuilt.client.get("/app.mjs", headers=headers)
    assert rebuilt.path.read_bytes() == OTHER_BUILD  # the rebuild did happen before the body went out
    assert int(response.headers["content-length"]) == len(response.content)
    if len(sent) > 1:
        assert [body for _, body in byteranges(response)] == [FIRST_BUILD[start:end] for start, end in sent]
    else:
        assert response.content == FIRST_BUILD[sent[0][0] : sent[0][1]]


def test_a_rebuild_of_the_same_size_and_mtime_gets_a_new_etag(rebuilt: Rebuilt) -> None:
    """The ETag cache knew a version by (size, mtime): a rebuild renamed over the path within the
    filesystem's timestamp granularity (or copied with its mtime kept), as long as the old file, kept
    the old ETag, and a client's If-None-Match got a 304 for bytes it never had. The rename gives the
    path a new inode, which the version now includes."""
    before = rebuilt.client.get("/app.mjs", headers=AS_IS).headers["etag"]
    stat = rebuilt.path.stat()
    renamed_over(rebuilt.path, OTHER_BUILD)
    os.utime(rebuilt.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert rebuilt.path.stat().st_size == stat.st_size
    answer = rebuilt.client.get("/app.mjs", headers={**AS_IS, "If-None-Match": before})
    assert answer.status_code == 200
    assert answer.content == OTHER_BUILD
    assert answer.headers["etag"] != before


def open_on(path: Path) -> list[str]:
    """The files this process holds open at `path`."""
    return [f.path for f in psutil.Process().open_files() if f.path == str(path)]


def test_the_file_is_closed_whatever_the_answer(rebuilt: Rebuilt) -> None:
    """The file stays open from the headers to the end of the body: it must be closed then, and at once
    when no body is sent (HEAD, 304, 412, 416) or the client goes away in mid-body."""
    etag = rebuilt.client.get("/app.mjs", headers=AS_IS).headers["etag"]
    answers = {
        "GET": ({}, 200),
        "HEAD": ({}, 200),
        "304": ({"If-None-Match": etag}, 304),
        "412": ({"If-Match": '"another"'}, 412),
        "416": ({"Range": "bytes=999999-"}, 416),
        "206": ({"Range": "bytes=1-2,5-6"}, 206),
    }
    assert rebuilt.answered.acquire(timeout=10)
    for name, (headers, status) in answers.items():
        method = "HEAD" if name == "HEAD" else "GET"
        assert rebuilt.client.request(method, "/app.mjs", headers={**AS_IS, **headers}).status_code == status
        assert rebuilt.answered.acquire(timeout=10)
        assert open_on(rebuilt.path) == [], name


def test_the_file_is_closed_when_the_client_goes_away_in_mid_body(rebuilt: Rebuilt) -> None:
    rebuilt.path.write_bytes(FIRST_BUILD * 2000)  # 8.6 MB: more than the socket buffers hold
    with rebuilt.client.stream("GET", "/app.mjs", headers=AS_IS) as response:
        next(response.iter_raw(1024))
    assert rebuilt.answered.acquire(timeout=10)
    assert open_on(rebuilt.path) == []


def test_a_file_deleted_after_the_route_found_it_is_a_json_404(rebuilt: Rebuilt) -> None:
    """web/build.mjs starts by deleting the folder: a request that had found the file before got a 500."""
    rebuilt.after_check.append(Path.unlink)
    response = rebuilt.client.get("/app.mjs")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no file 'app.mjs' (deleted by a rebuild?)",
        "field": "path",
    }


def test_a_server_that_can_send_a_file_by_its_path_is_sent_the_bytes(tmp_path: Path) -> None:
    """ASGI's http.response.pathsend has the server open the path itself, which finds the version there
    by then; FileResponse uses it when the server offers it (uvicorn does not, so this one ASGI call is
    made by hand, as such a server makes it)."""
    page = tmp_path / "app.mjs"
    page.write_bytes(FIRST_BUILD)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "method": "GET",
        "path": "/app.mjs",
        "headers": [],
        "extensions": {"http.response.pathsend": {}},
    }
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)

    async def serve() -> None:
        response = await file_response(Request(scope), page, ETags())
        renamed_over(page, OTHER_BUILD)
        await response(scope, receive, send)

    asyncio.run(serve())
    assert [m["type"] for m in messages if m["type"] == "http.response.pathsend"] == []
    assert b"".join(m.get("body", b"") for m in messages) == FIRST_BUILD
