"""service/api/upload.py on starlette's own Request over ASGI messages (what uvicorn hands the app): the
body comes back without a copy when it arrived whole, joined when it came in parts, and a stall between
two parts, or a trickle too slow on average, ends in RequestTimeout. Through a real server:
tests/api/test_bad_input.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from starlette.requests import Request

from service.api.upload import MAX_PARTS, Upload, UploadPace, read_upload
from service.errors import ClientClosedRequest, MissingImage, PayloadTooLarge, RequestTimeout


def request_of(
    parts: list[bytes],
    stall_after: int | None = None,
    content_type: bytes = b"image/jpeg",
    gone: bool = False,
    pause_s: float = 0.0,
) -> Request:
    """A request whose body arrives in `parts`, each `pause_s` after the one before; after `stall_after`
    of them, nothing more comes."""
    last = len(parts) - 1
    messages = [{"type": "http.request", "body": part, "more_body": i < last} for i, part in enumerate(parts)]
    sent = 0

    async def receive() -> dict[str, object]:
        nonlocal sent
        if gone and sent == len(messages) - 1:
            return {"type": "http.disconnect"}  # what uvicorn sends when the client hangs up
        if sent == stall_after:
            await asyncio.sleep(3600)
        await asyncio.sleep(pause_s)
        sent += 1
        return messages[sent - 1]

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type)]}
    return Request(scope, receive)


PACE = UploadPace(stall_s=5.0, min_bytes_per_s=1024.0)  # far from what these tests reach


def run(call: Awaitable[Upload]) -> bytes:
    return asyncio.run(call).image()  # type: ignore[arg-type]


def test_a_body_that_arrived_whole_is_not_copied() -> None:
    body = b"\xff\xd8" + bytes(200_000)
    assert run(read_upload(request_of([body]), 1 << 20, PACE)) is body


def test_parts_are_joined() -> None:
    assert run(read_upload(request_of([b"ab", b"", b"cd"]), 1 << 20, PACE)) == b"abcd"


def test_a_stall_between_parts_times_out() -> None:
    with pytest.raises(RequestTimeout, match="after 2 bytes") as caught:
        run(read_upload(request_of([b"ab", b"cd"], stall_after=1), 1 << 20, UploadPace(0.05, 1024.0)))
    assert caught.value.headers == {"Connection": "close"}


def test_a_trickle_that_never_stalls_but_averages_too_slow_times_out() -> None:
    """A byte every 20 ms never leaves 200 ms of silence, but averages 50 bytes/s where 1,000 are due
    after the first 200 ms."""
    trickle = request_of([b"x"] * 1000, pause_s=0.02)
    with pytest.raises(RequestTimeout, match=r"too slow: \d+ bytes in ") as caught:
        run(read_upload(trickle, 1 << 20, UploadPace(0.2, 1000.0)))
    assert caught.value.headers == {"Connection": "close"}


def test_the_limit_holds_while_reading() -> None:
    """No Content-Length (chunked): cut off when the second part passes the limit."""
    with pytest.raises(PayloadTooLarge):
        run(read_upload(request_of([bytes(600), bytes(600)], stall_after=2), 1000, PACE))


def test_a_client_gone_mid_upload_is_client_closed_request() -> None:
    with pytest.raises(ClientClosedRequest, match="after 2 bytes"):
        run(read_upload(request_of([b"ab", b"cd"], gone=True), 1 << 20, PACE))


def multipart(*parts: tuple[str, bytes]) -> tuple[Request, bytes]:
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value + b"\r\n"
        for name, value in parts
    )
    return request_of([body + b"--b--\r\n"], content_type=b"multipart/form-data; boundary=b"), body


def test_the_image_field_is_found_among_others() -> None:
    request, _ = multipart(("note", b"hello"), ("image", b"\xff\xd8pixels"), ("image", b"second"))
    assert run(read_upload(request, 1 << 20, PACE)) == b"\xff\xd8pixels"


def test_the_multipart_body_is_read_whole_and_parsed_later() -> None:
    """read_upload (on the event loop) only reads; Upload.image() (in the inference worker) parses."""
    request, body = multipart(("image", b"\xff\xd8pixels"))
    upload = asyncio.run(read_upload(request, 1 << 20, PACE))
    assert upload.boundary == b"b" and upload.body.startswith(body)


def test_a_body_of_many_parts_is_refused_at_the_limit() -> None:
    request, _ = multipart(*[("note", b"x")] * (MAX_PARTS + 1), ("image", b"\xff\xd8pixels"))
    with pytest.raises(MissingImage, match=f"more than {MAX_PARTS} parts"):
        run(read_upload(request, 1 << 20, PACE))
    request, _ = multipart(*[("note", b"x")] * (MAX_PARTS - 1), ("image", b"\xff\xd8pixels"))
    assert run(read_upload(request, 1 << 20, PACE)) == b"\xff\xd8pixels"


def test_a_body_cut_off_inside_the_image_field_says_so() -> None:
    """Not "has no field 'image'": the field is there, its end is not."""
    _, body = multipart(("note", b"hello"), ("image", b"\xff\xd8" + bytes(1000)))
    cut = request_of([body[:-400]], content_type=b"multipart/form-data; boundary=b")
    with pytest.raises(MissingImage, match="ends inside the field 'image': it was cut off"):
        run(read_upload(cut, 1 << 20, PACE))
    only_note = request_of([body[: body.index(b"--b", 4)]], content_type=b"multipart/form-data; boundary=b")
    with pytest.raises(MissingImage, match="has no field 'image'"):
        run(read_upload(only_note, 1 << 20, PACE))
