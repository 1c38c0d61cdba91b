"""Bad input through a real server: each gets a 4xx with the JSON error shape (or the right answer
where the input is valid but odd), and the next valid request still succeeds."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import IMAGES, LiveServer, access_lines
from tests.pictures import (
    avif_exif_item,
    encoded,
    exif_of_entries,
    noise_jpeg,
    png_chunk,
    rle_bmp,
    tiff_with_private_tags,
    tiled_tiff,
    with_bad_crc,
    with_gif_blocks,
    with_png_chunks,
    with_repeated_scan,
)
from tests.raw_http import connect, exchange, read_to_close, trickle
from tests.reference import box_iou

LIMIT = 1_000_000  # the small-limit server's upload limit


@pytest.fixture(scope="module")
def small_limit_server(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """With the access log on (MVA_ACCESS_LOG), for what it says of a client gone mid-upload."""
    return start_module_server(
        max_upload_bytes=str(LIMIT), max_pixels="20000000", warm_models='["mobilenet_v2"]', access_log="true"
    )


@pytest.fixture
def small(small_limit_server: LiveServer) -> Iterator[httpx.Client]:
    with small_limit_server.client() as c:
        yield c


def many_scans() -> bytes:
    """A few KB that would take a core for seconds: a flat picture's tiny last scan, 2,000 times."""
    progressive = encoded(Image.new("L", (2048, 2048), 128), "JPEG", progressive=True)
    return with_repeated_scan(progressive, 2000)


def bmp_of_width_0() -> bytes:
    """A BMP whose header says it is 0 pixels wide (Pillow's BMP reader raises SyntaxError)."""
    bmp = encoded(Image.new("RGB", (8, 8)), "BMP")
    return bmp[:18] + bytes(4) + bmp[22:]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def assert_still_serving(client: httpx.Client, images: Path) -> None:
    response = client.post("/classify", files={"image": (images / "grace_hopper.bmp").read_bytes()})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "military uniform"


BAD = {
    "empty body": (dict(content=b"", headers={"content-type": "image/jpeg"}), 422, "missing_image"),
    "missing field": (dict(files={"picture": b"abc"}), 422, "missing_image"),
    "wrong content type": (
        dict(content=b"{}", headers={"content-type": "application/json"}),
        415,
        "unsupported_media_type",
    ),
    "no content type": (dict(content=b"abc"), 415, "unsupported_media_type"),
    "text renamed .jpg": (
        dict(files={"image": ("photo.jpg", b"hello, I am text", "image/jpeg")}),
        415,
        "unsupported_media_type",
    ),
    "truncated jpeg": (dict(files={"image": noise_jpeg()[:1500]}), 422, "corrupt_image"),
    "truncated png": (
        dict(
            files={
                "image": encoded(
                    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)),
                    "PNG",
                )[:3000]
            }
        ),
        422,
        "corrupt_image",
    ),
    "bmp with a damaged header (a width of 0)": (
        dict(files={"image": bmp_of_width_0()}),
        422,
        "corrupt_image",
    ),
    "png decompression bomb": (
        dict(files={"image": encoded(Image.new("1", (12_000, 12_000)), "PNG")}),
        413,
        "image_too_large",
    ),
    "a small tiff in tiles over the pixel limit (each decoded whole)": (
        dict(files={"image": tiled_tiff(16, 16, tile=4500, colour=(0, 0, 0))}),  # 20.25 M pixels a tile
        413,
        "image_too_large",
    ),
    "no body and no content type": (dict(content=b""), 422, "missing_image"),
    # no body is missing its image before its type is looked at: not the 415 of a body of that type
    "no body and a content type not accepted": (
        dict(content=b"", headers={"content-type": "text/plain"}),
        422,
        "missing_image",
    ),
    "multipart without a boundary": (
        dict(content=b"abc", headers={"content-type": "multipart/form-data"}),
        422,
        "missing_image",
    ),
    "multipart with a boundary longer than the parser takes": (
        dict(
            content=b"--" + b"b" * 300 + b"\r\n",
            headers={"content-type": "multipart/form-data; boundary=" + "b" * 300},
        ),
        422,
        "missing_image",
    ),
    "multipart of many tiny parts": (
        dict(
            content=b"--x\r\nA: b\r\n\r\n\r\n" * 50_000 + b"--x--\r\n",
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
        422,
        "missing_image",
    ),
    "progressive jpeg of thousands of scans": (
        dict(content=many_scans(), headers={"content-type": "image/jpeg"}),
        422,
        "corrupt_image",
    ),
    "an icon (not an accepted format)": (
        dict(content=encoded(Image.new("RGB", (32, 32)), "ICO"), headers={"content-type": "image/x-icon"}),
        415,
        "unsupported_media_type",
    ),
    "malformed multipart": (
        dict(content=b"--xyz\r\nnot a part", headers={"content-type": "multipart/form-data; boundary=xyz"}),
        422,
        "missing_image",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input(small: httpx.Client, images: Path, case: str) -> None:
    kwargs, status, code = BAD[case]
    assert_error(small.post("/classify", **kwargs), status, code)
    assert_still_serving(small, images)


# Files whose headers hold more pieces than the limit, each of which Pillow reads in Python, one at a
# time (10 MB of them held a core for seconds), or whose pieces the walk before Pillow would gather
# unbounded: the file, and what the error message says.
FLOODS = {
    "jpeg of 100,000 fill bytes and no code": (  # a core for a minute and more: re quadratic in the run
        lambda: b"\xff\xd8" + b"\xff" * 100_000 + b"\x00" + noise_jpeg()[2:],
        "the JPEG header has more than 10000 markers and stray bytes before its first scan",
    ),
    "png of 80,000 empty text chunks": (
        lambda: with_png_chunks(encoded(Image.new("RGB", (8, 8)), "PNG"), png_chunk(b"tEXt", b"") * 80_000),
        "the PNG has more than 10000 chunks of under 1024 bytes; at most that many are read",
    ),
    "tiff of 15,000 private tags": (
        lambda: tiff_with_private_tags(Image.new("RGB", (8, 8)), 15_000),
        "the TIFF has more than 5000 IFD entries to parse",
    ),
    "png of an eXIf chunk of 60,000 IFD entries": (
        lambda: encoded(Image.new("RGB", (8, 8)), "PNG", exif=exif_of_entries(60_000)),
        "the PNG's EXIF has more than 5000 IFD entries to parse",
    ),
    "avif of an EXIF item of 60,000 IFD entries": (
        lambda: encoded(Image.new("RGB", (8, 8)), "AVIF", exif=exif_of_entries(60_000)),
        "the AVIF's EXIF has more than 5000 IFD entries to parse",
    ),
    "avif of an EXIF item of 10,000 extents, each the whole file": (  # 1 GB to count, 2.9 GB held
        lambda: avif_exif_item([(0, 0)] * 10_000, field_size=0, after=bytes(100_000)),
        "the AVIF header could not be read",
    ),
    "gif of 100,000 empty comments": (
        lambda: with_gif_blocks(encoded(Image.new("RGB", (8, 8)), "GIF"), b"!\xfe\x00" * 100_000),
        "the GIF header has more than 50000 blocks, sub-blocks and stray bytes before its first image",
    ),
}


@pytest.mark.parametrize("case", sorted(FLOODS))
def test_a_header_flood_is_refused_before_it_is_read(small: httpx.Client, images: Path, case: str) -> None:
    picture, message = FLOODS[case]
    response = small.post("/classify", files={"image": picture()})
    assert_error(response, 422, "corrupt_image")
    assert message in response.json()["error"]["message"]
    assert_still_serving(small, images)


def test_an_empty_image_field_is_named_as_such(small: httpx.Client, images: Path) -> None:
    """A file input left empty: the body is not empty, the field is."""
    response = small.post("/classify", files={"image": ("photo.jpg", b"", "image/jpeg"), "note": b"hello"})
    assert_error(response, 422, "missing_image")
    assert "the multipart field 'image' is empty" in response.json()["error"]["message"]
    assert_still_serving(small, images)


def test_a_raw_octet_stream_body_is_an_upload(small: httpx.Client, images: Path) -> None:
    """README: the raw body may come as `image/*` or `application/octet-stream`."""
    response = small.post(
        "/classify",
        content=(images / "grace_hopper.bmp").read_bytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "military uniform"


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzipped", "labelled only"])
def test_a_compressed_body_is_refused_with_the_codings_accepted(
    small: httpx.Client, images: Path, gzipped: bool
) -> None:
    """RFC 9110 15.5.16: 415 and `Accept-Encoding`. Not read as an image either way: a gzipped body is no
    image format, and one only labelled gzip is not what its header says."""
    picture = (images / "face.jpg").read_bytes()
    response = small.post(
        "/detect",
        content=gzip.compress(picture) if gzipped else picture,
        headers={"content-type": "image/jpeg", "content-encoding": "gzip"},
    )
    assert_error(response, 415, "unsupported_media_type")
    assert "content encoding 'gzip'" in response.json()["error"]["message"]
    assert response.headers["accept-encoding"] == "identity"
    identity = small.post(
        "/detect", content=picture, headers={"content-type": "image/jpeg", "content-encoding": "identity"}
    )
    assert identity.status_code == 200 and len(identity.json()["faces"]) == 2
    assert_still_serving(small, images)


def test_the_pixel_limit_is_the_servers_setting(small: httpx.Client, images: Path) -> None:
    """MVA_MAX_PIXELS=20000000 on this server: 20.5 M pixels pass the default 50 M, not this limit."""
    picture = encoded(Image.new("1", (5_000, 4_100)), "PNG")  # a few KB
    response = small.post("/classify", files={"image": picture})
    assert_error(response, 413, "image_too_large")
    assert "20000000" in response.json()["error"]["message"]
    assert_still_serving(small, images)


def test_upload_over_the_limit(small: httpx.Client, images: Path) -> None:
    big = b"\xff\xd8" + b"\0" * (LIMIT + 10)
    assert_error(
        small.post("/classify", content=big, headers={"content-type": "image/jpeg"}), 413, "payload_too_large"
    )
    assert_error(small.post("/classify", files={"image": big}), 413, "payload_too_large")
    assert_still_serving(small, images)


def test_an_rle_bmp_of_more_codes_than_decoded_is_too_large(client: httpx.Client, images: Path) -> None:
    """10 MiB, the default upload limit, of end of line codes that pad nothing: each is a step of the
    decoder, in Python; past the most it stops, and the picture is too costly, not damaged."""
    header = len(rle_bmp(100, 100, b""))
    codes = b"\x00\x00" * (((10 << 20) - header) // 2)
    response = client.post(
        "/classify", content=rle_bmp(100, 100, codes), headers={"content-type": "image/bmp"}
    )
    assert_error(response, 413, "image_too_large")
    assert "an RLE-compressed BMP of more than" in response.json()["error"]["message"]
    assert_still_serving(client, images)


def test_chunked_upload_over_the_limit_is_cut_off(small: httpx.Client, images: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4 * LIMIT // 65536):
            yield b"\0" * 65536

    response = small.post("/classify", content=chunks(), headers={"content-type": "image/jpeg"})
    assert_error(response, 413, "payload_too_large")
    assert_still_serving(small, images)


@pytest.mark.parametrize("after", ["", " ", " \t"], ids=["plain", "space", "space-tab"])
def test_content_length_that_lies_is_refused_up_front(
    small_limit_server: LiveServer, images: Path, after: str
) -> None:
    """A declared length above the limit is refused before the body is read, also with whitespace after
    it (RFC 9112 5.1: no part of the value; httptools, the default parser, hands it on): that one was
    read up to the limit instead, here waiting for a body that never comes."""
    with connect(small_limit_server.port) as sock:
        head, body, _ = exchange(
            sock,
            b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            + f"Content-Length: {50 * LIMIT}{after}\r\n\r\n".encode()
            + b"\xff\xd8 only a few bytes",
        )
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    with small_limit_server.client() as c:
        assert_still_serving(c, images)


def test_a_client_gone_mid_upload_is_a_499_not_a_server_error(
    small_limit_server: LiveServer, images: Path
) -> None:
    """nginx's 499: counted apart from the service's own errors, logged as such in the access log, and no
    traceback in the log."""
    with connect(small_limit_server.port) as sock:
        sock.sendall(
            b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n"
            + b"X-Request-ID: gone-mid-upload\r\n\r\n"
            + (images / "cat_720p.jpg").read_bytes()[:1000]
        )
    with small_limit_server.client() as c:
        deadline = time.monotonic() + 10
        while 'mva_requests_total{route="/classify",status="499"}' not in c.get("/metrics").text:
            assert time.monotonic() < deadline, "the disconnect was never counted"
            time.sleep(0.05)
        assert 'route="/classify",status="500"' not in c.get("/metrics").text
        assert_still_serving(c, images)
    logged = access_lines(small_limit_server, 1, request_id="gone-mid-upload")
    assert [(line["status"], line["route"]) for line in logged] == [(499, "/classify")], logged
    assert "Traceback" not in small_limit_server.log_path.read_text()


@pytest.fixture(scope="module")
def impatient_server(start_module_server: Callable[..., LiveServer]) -> LiveServer:
    """1 s of silence, or under 100 kB/s on average after the first 1 s, ends an upload."""
    return start_module_server(
        receive_timeout_s="1", upload_min_bytes_per_s="100000", warm_models='["mobilenet_v2"]'
    )


def test_a_stalled_upload_gets_408_and_its_connection_closed(
    impatient_server: LiveServer, images: Path
) -> None:
    started = time.perf_counter()
    with connect(impatient_server.port) as sock:
        # 200 kB before the stall: the average-rate limit is then 2 s past the silence limit, so a server
        # slow to read them still meets the silence first
        sock.sendall(
            b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 250000\r\n\r\n" + (images / "cat_1080p.jpg").read_bytes()[:200_000]
        )
        reply = read_to_close(sock)  # returns only once the server closes
    waited = time.perf_counter() - started
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply
    # one Connection header, the 408's own: the rest of the body would read as a new request
    assert head.lower().count(b"\r\nconnection:") == 1 and b"\r\nconnection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "after 200000 bytes" in error["message"]
    assert waited >= 1.0  # the setting's 1 s of silence, no less (a hang would hit the socket's 30 s)
    with impatient_server.client() as c:
        assert_still_serving(c, images)


def test_a_slow_upload_that_keeps_coming_is_answered(impatient_server: LiveServer, images: Path) -> None:
    """The timeout is between two chunks, not for the whole body: 2.4 s of upload with a 1 s timeout (in
    8 parts 0.3 s apart: a test process held up for 0.7 s still sends the next in time)."""
    data = (images / "grace_hopper.bmp").read_bytes()
    parts = [data[i : i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    with connect(impatient_server.port) as sock:
        sock.sendall(
            b"POST /classify?top_k=1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\nConnection: close\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
        )
        for part in parts:
            time.sleep(0.3)
            sock.sendall(part)
        reply = read_to_close(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), reply
    assert json.loads(body)["predictions"][0]["label"] == "military uniform"
    assert json.loads(body)["timing"]["receive"] > 1800  # ms: it really was read slowly


def test_a_trickle_that_never_stalls_gets_408_and_its_connection_closed(
    impatient_server: LiveServer, images: Path
) -> None:
    """A byte every 0.1 s never leaves 1 s of silence: with that limit alone it held its connection
    (and an upload slot) for as long as it kept trickling. (0.1 s, not closer to the limit: a test
    process held up for most of a second on a loaded machine would meet the silence limit instead.)"""
    with connect(impatient_server.port) as sock:
        sock.sendall(
            b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"
        )
        # 100 bytes: 10 s of trickle, answered while it goes on (after it, the silence limit would answer)
        reply = trickle(sock, (images / "cat_720p.jpg").read_bytes()[:100], every_s=0.1)
        assert reply, "no answer while the trickle went on"
        # a byte sent just before the answer came may be unread when the server closes: the close is then
        # a reset, after the answer (CI met it once)
        reply += read_to_close(sock, reset_ends_it=True)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply
    assert b"\r\ncontent-type: application/json" in head.lower() and b"\r\nconnection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "the upload is too slow" in error["message"], error
    with impatient_server.client() as c:  # an upload sent at once, on a new connection, still passes
        assert_still_serving(c, images)


ODD_BUT_VALID = {  # the picture, and its (width, height, format) as the answer must give them
    "animated gif": (lambda: _gif(), (32, 32, "GIF")),
    "apng of 1,000 frames": (lambda: _animation("PNG", 1_000), (8, 8, "PNG")),
    "gif of 1,000 frames": (lambda: _animation("GIF", 1_000), (8, 8, "GIF")),
    "cmyk jpeg": (lambda: encoded(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"), (64, 64, "JPEG")),
    "16-bit png": (
        lambda: encoded(
            Image.frombytes("I;16", (32, 32), np.full((32, 32), 40000, np.uint16).tobytes()), "PNG"
        ),
        (32, 32, "PNG"),
    ),
    "palette png with transparency": (
        lambda: encoded(Image.new("P", (32, 32), 0), "PNG", transparency=0),
        (32, 32, "PNG"),
    ),
    "1x1": (lambda: encoded(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), (1, 1, "PNG")),
    "10000x10": (lambda: encoded(Image.new("RGB", (10_000, 10), (200, 10, 10)), "PNG"), (10_000, 10, "PNG")),
    "png whose text chunk has a wrong crc (browsers drop the chunk)": (
        lambda: with_bad_crc(
            with_png_chunks(encoded(Image.new("RGB", (8, 8)), "PNG"), png_chunk(b"tEXt", b"a\x00b")), b"tEXt"
        ),
        (8, 8, "PNG"),
    ),
    # Pillow's decoder padded each row a pixel at a time, in Python (2-4 s of a core); ours skips it
    "rle8 bmp of 4000 rows a pixel long": (
        lambda: rle_bmp(4_000, 4_000, b"\x01\x07\x00\x00" * 4_000),
        (4_000, 4_000, "BMP"),
    ),
}


def _gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)


def _animation(fmt: str, frames: int) -> bytes:
    """8x8 frames, each of another colour (Pillow merges identical ones): an APNG has two chunks a frame,
    a GIF a graphic control extension, which the limits on PNG chunks and GIF blocks leave alone."""
    pictures = [Image.new("RGB", (8, 8), (i % 256, i // 256, 0)) for i in range(frames)]
    return encoded(pictures[0], fmt, save_all=True, append_images=pictures[1:], duration=40)


@pytest.mark.parametrize("case", sorted(ODD_BUT_VALID))
@pytest.mark.parametrize("route", ["/classify", "/detect"])
def test_odd_but_valid_images_are_answered(small: httpx.Client, images: Path, case: str, route: str) -> None:
    """A whole answer for the picture that was sent (its pixel content: tests/imaging/test_decode.py)."""
    picture, (width, height, fmt) = ODD_BUT_VALID[case]
    response = small.post(route, files={"image": picture()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["image"]["width"], body["image"]["height"], body["image"]["format"]) == (width, height, fmt)
    assert (body["image"]["decoded_width"], body["image"]["decoded_height"]) == (width, height)
    if route == "/classify":
        scores = [p["score"] for p in body["predictions"]]
        assert len(scores) == 5 and all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
    else:
        assert body["faces"] == []  # flat colours: nothing like a face
    assert_still_serving(small, images)


def test_unknown_route_and_method_are_json(small: httpx.Client) -> None:
    assert_error(small.get("/nope"), 404, "not_found")
    assert_error(small.get("/classify"), 405, "method_not_allowed")


def _exif_oriented(orientation: int) -> bytes:
    """face.jpg stored so that EXIF `orientation` turns it upright again."""
    fix = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,  # the stored picture is the upright one turned the other way
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }
    upright = Image.open(IMAGES / "face.jpg").convert("RGB")
    stored = upright if orientation == 1 else upright.transpose(fix[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(stored, "JPEG", quality=95, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_give_the_upright_faces(small: httpx.Client, orientation: int) -> None:
    upright = small.post("/detect?model=full", files={"image": (IMAGES / "face.jpg").read_bytes()}).json()
    response = small.post("/detect?model=full", files={"image": _exif_oriented(orientation)})
    assert response.status_code == 200
    body = response.json()
    assert (body["image"]["width"], body["image"]["height"]) == (
        upright["image"]["width"],
        upright["image"]["height"],
    )
    assert len(body["faces"]) == len(upright["faces"]) == 4
    for face in upright["faces"]:
        assert max(box_iou(face["box"], f["box"]) for f in body["faces"]) >= 0.8
