"""The page's files and the model files it downloads: MIME types, isolation headers, CSP, ETag/304,
the build's brotli / gzip copies by Accept-Encoding, and model files chosen by manifest name only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import httpx
import pytest

from service.artifacts import ArtifactLayout
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.raw_http import connect, read_to_close

PAGE = PROJECT_ROOT / "web" / "dist"  # what the default server serves (`make web`)


def test_page_has_isolation_headers_and_a_csp(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"
    csp = response.headers["content-security-policy"]
    assert "'wasm-unsafe-eval'" in csp and "worker-src 'self' blob:" in csp and "default-src 'self'" in csp


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/web/vendor/ort-wasm.wasm", "application/wasm"),
        ("/web/vendor/ort-wasm-simd-threaded.wasm", "application/wasm"),
        ("/web/vendor/ort.min.js", "text/javascript"),
        ("/web/app.mjs", "text/javascript"),
    ],
)
def test_vendor_and_module_files_have_the_right_mime_type(
    client: httpx.Client, path: str, media_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_the_page_folder_leads_to_the_page(client: httpx.Client) -> None:
    """/web went to /web/ (Starlette's slash redirect), which answered 404 "no page file ''": the page
    is at `/`, its files under /web/. Both now redirect to the page, query kept."""
    page = client.get("/")
    for path in ("/web", "/web/", "/web?x=1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307, path
        target = httpx.URL(response.headers["location"])
        assert (target.path, target.query) == ("/", b"x=1" if "?" in path else b""), path
        assert target.host == client.base_url.host and target.port == client.base_url.port, path
        followed = client.get(path, follow_redirects=True)
        assert followed.status_code == 200 and followed.content == page.content, path
    assert client.head("/web/", follow_redirects=False).status_code == 307


def test_model_file_is_the_servers_and_revalidates_with_304(
    client: httpx.Client, layout: ArtifactLayout
) -> None:
    response = client.get("/models/mobilenet_v2/int8.onnx")
    assert response.status_code == 200
    assert response.content == layout.onnx("mobilenet_v2", "int8").read_bytes()
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = client.get("/models/mobilenet_v2/int8.onnx", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get("/models/mobilenet_v2/fp32.onnx", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_model_by_alias_and_labels(client: httpx.Client, layout: ArtifactLayout) -> None:
    assert (
        client.get("/models/short/fp32.onnx").content == layout.onnx("blazeface_short", "fp32").read_bytes()
    )
    labels = client.get("/models/mobilenet_v2/labels.txt")
    assert labels.text.splitlines()[653] == "military uniform"


def test_the_fixed_batch_copy_for_webgl(client: httpx.Client, layout: ArtifactLayout) -> None:
    fixed = client.get("/models/short/fp32-batch1.onnx")
    assert fixed.status_code == 200
    assert fixed.content == layout.onnx_fixed_batch("blazeface_short", "fp32").read_bytes()
    assert fixed.content != layout.onnx("blazeface_short", "fp32").read_bytes()
    # built for fp32 only: WebGL has no int8 kernels
    # (not "not built: run `make models`", which never builds it)
    missing = client.get("/models/mobilenet_v2/int8-batch1.onnx")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "unknown_model",
        "message": "the batch-1 graph of mobilenet_v2 comes in fp32 only",
        "field": "precision",
    }


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/models/nope/int8.onnx", 404, "unknown_model"),
        ("/models/blazeface_short/int8.onnx", 404, "unknown_model"),  # not a precision this model comes in
        ("/models/blazeface_short/int8-batch1.onnx", 404, "unknown_model"),
        ("/models/mobilenet_v2/fp16-batch1.onnx", 422, "invalid_parameter"),
        ("/models/..%2F..%2Fmanifest/int8.onnx", 404, "not_found"),
        ("/web/..%2F..%2Fpyproject.toml", 404, "not_found"),
        ("/web/missing.js", 404, "not_found"),
    ],
)
def test_unknown_models_and_paths_outside_the_page_are_refused(
    client: httpx.Client, path: str, status: int, code: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/web/app.mjs%00",  # a NUL byte: no file name can hold one
        "/web/" + "a" * 300,  # a name longer than the filesystem takes
        "/web/" + "/".join(["a" * 200] * 30),  # a path longer than it takes
    ],
)
def test_names_no_file_can_have_are_404_not_500(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/web/app.mjs").status_code == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/web/../../pyproject.toml",
        b"/web/vendor/../../../pyproject.toml",
        b"/models/mobilenet_v2/../../manifest.json",
    ],
)
def test_dot_segments_never_leave_the_page_or_the_models(server: LiveServer, raw_path: bytes) -> None:
    """Sent as they are: httpx (as browsers) would resolve the dots before sending, so a client that does
    not is played by a socket."""
    with connect(server.port) as sock:
        sock.sendall(b"GET " + raw_path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = read_to_close(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), reply
    assert json.loads(body)["error"]["code"] == "not_found"


WASM = "/web/vendor/ort-wasm-simd-threaded.wasm"


def test_wasm_goes_out_as_the_builds_brotli_or_gzip_copy(client: httpx.Client) -> None:
    raw = (PAGE / "vendor" / "ort-wasm-simd-threaded.wasm").read_bytes()
    etags = set()
    choices = (("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"), ("identity", None))
    for accept, encoding in choices:
        response = client.get(WASM, headers={"Accept-Encoding": accept})
        assert response.status_code == 200
        assert response.headers.get("content-encoding") == encoding
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-type"] == "application/wasm"
        assert response.content == raw  # httpx decodes br (brotli) and gzip
        sent = int(response.headers["content-length"])
        assert sent < len(raw) / 3 if encoding else sent == len(raw)
        etag = response.headers["etag"]
        etags.add(etag)
        again = client.get(WASM, headers={"Accept-Encoding": accept, "If-None-Match": etag})
        assert again.status_code == 304 and "content-encoding" not in again.headers
    assert len(etags) == 3  # one representation each


def test_list_headers_sent_on_several_lines_are_read_whole(client: httpx.Client) -> None:
    """Accept-Encoding, If-None-Match and If-Match are lists, which a client or proxy may send on several
    lines (RFC 9110 5.3): only the first line was read, so `gzip;q=0` then `br` got the whole file, and a
    matching ETag on the second line a 200 (or a 412 for If-Match)."""
    two_lines = [("Accept-Encoding", "gzip;q=0"), ("Accept-Encoding", "br")]
    response = client.get(WASM, headers=two_lines)
    assert response.status_code == 200 and response.headers.get("content-encoding") == "br"
    etag = response.headers["etag"]
    again = client.get(WASM, headers=[*two_lines, ("If-None-Match", '"another"'), ("If-None-Match", etag)])
    assert again.status_code == 304
    matched = client.get(WASM, headers=[*two_lines, ("If-Match", '"another"'), ("If-Match", etag)])
    assert matched.status_code == 200


def test_model_file_goes_out_gzipped_when_accepted(client: httpx.Client, layout: ArtifactLayout) -> None:
    response = client.get("/models/mobilenet_v2/int8.onnx", headers={"Accept-Encoding": "br, gzip"})
    assert response.headers["content-encoding"] == "gzip"  # the model build writes gzip only
    assert response.content == layout.onnx("mobilenet_v2", "int8").read_bytes()
    assert int(response.headers["content-length"]) < 0.8 * len(response.content)


def test_a_file_without_copies_is_sent_as_is(client: httpx.Client) -> None:
    response = client.get("/web/classification.mjs")  # too small to be worth compressing
    assert response.status_code == 200
    assert "content-encoding" not in response.headers and "vary" not in response.headers


@pytest.fixture(scope="module")
def untidy_page(
    start_module_server: Callable[..., LiveServer], tmp_path_factory: pytest.TempPathFactory
) -> LiveServer:
    """A page folder holding what a build never writes: dotfiles, a symlink and a directory posing as
    a file's compressed copies."""
    page = tmp_path_factory.mktemp("page")
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("not part of the page\n")
    (page / "index.html").write_text("<!doctype html><title>page</title>\n")
    (page / ".env").write_text("MVA_API_KEY=from-a-dotfile\n")
    (page / ".git").mkdir()
    (page / ".git" / "config").write_text("[core]\n")
    (page / "env.txt").symlink_to(page / ".env")
    for name in ("linked.mjs", "folder.mjs"):
        (page / name).write_text(f"export const name = '{name}';\n")
        os.utime(page / name, (0, 0))  # older than its copies: a copy is not skipped as stale
    (page / "linked.mjs.gz").symlink_to(outside)
    (page / "folder.mjs.br").mkdir()
    return start_module_server(static_dir=str(page), warm_models="[]")


@pytest.mark.parametrize("path", ["/web/.env", "/web/%2Eenv", "/web/.git/config", "/web/env.txt"])
def test_hidden_files_in_the_page_folder_are_not_served(untidy_page: LiveServer, path: str) -> None:
    """A `.env` or `.git` left in MVA_STATIC_DIR stays private, also behind a symlink to it."""
    with untidy_page.client() as client:
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert "from-a-dotfile" not in response.text
        assert client.get("/").status_code == 200


@pytest.mark.parametrize(("name", "accept"), [("linked.mjs", "gzip"), ("folder.mjs", "br")])
def test_a_compressed_copy_that_is_not_a_regular_file_is_never_sent(
    untidy_page: LiveServer, name: str, accept: str
) -> None:
    """A symlinked copy could lead out of the folder, a directory cannot be sent: the file goes as is."""
    with untidy_page.client() as client:
        response = client.get(f"/web/{name}", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.text == f"export const name = '{name}';\n"


def test_the_openapi_document_says_model_files_answer_ranges(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/models/{model}/{precision}.onnx", "/models/{model}/labels.txt"):
        responses = paths[path]["get"]["responses"]
        assert {"200", "206", "304", "412", "416"} <= responses.keys(), path
        error = responses["416"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorResponse"}, path
