"""service/api/static.py through a real server: how a file answers a `Range` request (a browser's or a
download manager's resumed download, a media element seeking)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.api.static import ETags, file_response
from service.artifacts import ArtifactLayout
from service.localserver import LOOPBACK, free_port
from service.settings import PROJECT_ROOT

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
        "bytes=0-9, 999999999-",  # one range in the file, one past its end
    ],
)
def test_a_range_the_server_cannot_use_gets_the_whole_file(client: httpx.Client, range_header: str) -> None:
    """Starlette's FileResponse answered the first three with a plain-text 400 ("Only support bytes
    range"), the last with 416: a client that asked for a part got neither the file nor a JSON error."""
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
    ],
)
def test_the_range_sent_is_the_one_our_parse_decided_on(
    client: httpx.Client, range_header: str, sent: slice
) -> None:
    """Our parse said 206 with these bytes; FileResponse parsed the header again and, on more than
    100 list elements, sent the whole file."""
    response = client.get(PAGE_FILE, headers={**AS_IS, "Range": range_header})
    assert response.status_code == 206
    assert response.content == PAGE_BYTES[sent]
    assert response.headers["content-range"] == f"bytes {sent.start}-{sent.stop - 1}/{len(PAGE_BYTES)}"


def test_several_ranges_go_out_as_multipart_byteranges(client: httpx.Client) -> None:
    response = client.get(PAGE_FILE, headers={**AS_IS, "Range": "bytes=-10, 100-119, 0-9"})
    assert response.status_code == 206
    media_type, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert media_type == "multipart/byteranges"
    parts = response.content.split(f"--{boundary}".encode())
    size = len(PAGE_BYTES)
    expected = [(0, 10), (100, 120), (size - 10, size)]  # in file order
    assert len(parts) == len(expected) + 2  # before the first boundary, and the closing "--"
    for part, (start, end) in zip(parts[1:-1], expected, strict=True):
        head, _, body = part.partition(b"\r\n\r\n")
        assert f"Content-Range: bytes {start}-{end - 1}/{size}".encode() in head
        assert body == PAGE_BYTES[start:end] + b"\r\n"


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


@dataclass
class Rebuilt:
    """A page file served by file_response on a real server in this process, and the versions a rebuild
    renames over it (as the model build does: written aside, renamed into place) after file_response has
    answered for it and before that answer goes out: a deterministic rebuild in mid-request."""

    client: httpx.Client
    path: Path
    next_versions: list[bytes] = field(default_factory=list)


@pytest.fixture
def rebuilt(tmp_path: Path) -> Iterator[Rebuilt]:
    page = tmp_path / "app.mjs"
    page.write_bytes(b"export const version = 'the first build';\n" * 100)
    etags = ETags()

    async def answer(request: Request) -> Response:
        response = await file_response(request, page, etags)
        if served.next_versions:
            aside = page.with_name(page.name + ".tmp")
            aside.write_bytes(served.next_versions.pop(0))
            aside.replace(page)
        return response

    app = Starlette(routes=[Route("/app.mjs", answer, methods=["GET", "HEAD"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as client:
        served = Rebuilt(client, page)
        try:
            yield served
        finally:
            server.should_exit = True
            thread.join()


def test_a_rebuild_in_mid_request_never_mixes_two_versions_in_one_answer(rebuilt: Rebuilt) -> None:
    """The file was stat-ed for its ETag, again for If-Modified-Since, again for the Range, and once more
    by FileResponse: an answer could carry the first build's ETag with the second build's size in
    Content-Range and Content-Length, which a client resuming with If-Range would splice."""
    first = rebuilt.path.read_bytes()
    whole = rebuilt.client.get("/app.mjs")
    etag, last_modified = whole.headers["etag"], whole.headers["last-modified"]
    rebuilt.next_versions.append(b"export const version = 'the second build';\n")
    headers = {"Range": "bytes=100-", "If-Range": etag, "Accept-Encoding": "identity"}
    part = rebuilt.client.head("/app.mjs", headers=headers)
    assert part.status_code == 206
    assert part.headers["etag"] == etag
    assert part.headers["content-range"] == f"bytes 100-{len(first) - 1}/{len(first)}"
    assert part.headers["content-length"] == str(len(first) - 100)
    assert part.headers["last-modified"] == last_modified
