"""Request body -> image bytes: a multipart field `image`, or the raw body with an image content type.
The size limit holds before reading (a Content-Length over it is refused from the header, whatever
follows) and while reading (a chunked body is cut off at it; uvicorn passes on no more than a declared
length), so no upload is ever held in memory beyond it; an upload that stalls, or arrives slower than a
minimum average rate, is cut off (UploadPace), so a slow client cannot hold its connection and upload
slot open by trickling."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from service.api.headers import field as header_field
from service.api.headers import has_a_body, list_header
from service.errors import (
    ClientClosedRequest,
    MissingImage,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

# Room for multipart boundaries and part headers on top of the image limit.
_MULTIPART_SLACK = 16 * 1024
FIELD = "image"
HOW_TO_SEND = (
    f"send multipart/form-data with a field '{FIELD}', or the image as the body "
    "(an image/* or application/octet-stream type)"
)
# A form with the image has a part or two; a body of many tiny parts is only parser work (749,000 of
# them in 10 MiB took 3 s to parse).
MAX_PARTS = 16


@dataclass(frozen=True)
class UploadPace:
    """How slowly an upload may arrive. `stall_s`: the longest silence between two chunks (nginx's
    client_body_timeout). `min_bytes_per_s`: the slowest average after the first `stall_s` (Apache
    mod_reqtimeout's MinRate): the read must be over `stall_s + received / min_bytes_per_s` after it
    began. The deadline moves on with the bytes received, so an upload on a slow link gets the time its
    size needs, while a sender of a byte now and then is cut off after about `stall_s`, not the days it
    could hold an upload slot (service/api/upload_slots.py) with the silence limit alone."""

    stall_s: float
    min_bytes_per_s: float

    def end_by(self, began: float, received: int) -> float:
        """When a read that began at `began` must be over, `received` bytes in (the loop's clock)."""
        return began + self.stall_s + received / self.min_bytes_per_s


@dataclass(frozen=True)
class Upload:
    """What the client sent: the image itself, or a multipart body holding it. `image()` finds it in
    the multipart body; the inference worker calls it, off the event loop (~5 ms for 10 MiB)."""

    body: bytes
    boundary: bytes | None  # None: the body is the image
    limit: int

    def image(self) -> bytes:
        if self.boundary is None:
            return self.body
        image = _multipart_field(self.boundary, self.body, FIELD)
        if not image:  # a file input left empty, or an empty file: the body itself is not empty
            raise MissingImage(f"the multipart field '{FIELD}' is empty: {HOW_TO_SEND}")
        if len(image) > self.limit:
            raise PayloadTooLarge(f"the image is {len(image)} bytes; the limit is {self.limit}")
        return image


@dataclass(frozen=True)
class UploadHeaders:
    """What a request's headers say of its body, checked before anything is read or measured."""

    boundary: bytes | None  # None: the body is the image
    hard_limit: int  # the most body bytes read: the image's limit, with a multipart body's slack


def check_upload_headers(request: Request, limit: int) -> UploadHeaders:
    """The refusals a request's headers decide (415, 422 missing_image, 413 by Content-Length): cheap,
    so they come before the work a request may start before its body is read (preset=auto's first
    measurement of a model, seconds)."""
    _refuse_content_coding(request)
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    kind = content_type.decode("latin-1").lower()
    is_multipart = kind == "multipart/form-data"
    if not (is_multipart or kind.startswith("image/") or kind == "application/octet-stream"):
        if not has_a_body(request.headers):
            raise MissingImage(f"the request body is empty: {HOW_TO_SEND}")
        raise UnsupportedMediaType(f"content type {kind or '(none)'!r} is not accepted: {HOW_TO_SEND}")
    boundary = params.get(b"boundary") if is_multipart else None
    if is_multipart and not boundary:
        raise MissingImage(f"malformed multipart body: the content type names no boundary; {HOW_TO_SEND}")
    if boundary and len(boundary) > MAX_BOUNDARY_LENGTH:  # the parser's own refusal would be a 500
        raise MissingImage(
            f"malformed multipart body: the boundary is {len(boundary)} bytes, over "
            f"{MAX_BOUNDARY_LENGTH} (RFC 2046: at most 70); {HOW_TO_SEND}"
        )
    hard_limit = limit + (_MULTIPART_SLACK if is_multipart else 0)
    declared = header_field(request.headers, "content-length")  # "20000000 " too, as has_a_body reads it
    if declared is not None and declared.isdigit() and int(declared) > hard_limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    return UploadHeaders(boundary or None, hard_limit)


async def read_upload(
    request: Request, limit: int, pace: UploadPace, headers: UploadHeaders | None = None
) -> Upload:
    """The body, read whole within `pace`; `headers`: check_upload_headers's verdict, if already asked."""
    headers = headers or check_upload_headers(request, limit)
    body = await _read_body(request, headers.hard_limit, limit, pace)
    return Upload(body, headers.boundary, limit)


def _refuse_content_coding(request: Request) -> None:
    """A compressed body (`Content-Encoding: gzip`) is refused rather than read as if it were not:
    image formats are compressed already, and inflating would be one more size limit to keep.
    RFC 9110 15.5.16: 415, with the codings accepted in `Accept-Encoding`."""
    codings = [
        coding.strip().lower()
        for coding in (list_header(request.headers, "content-encoding") or "").split(",")
        if coding.strip()
    ]
    refused = [coding for coding in codings if coding != "identity"]
    if refused:
        raise UnsupportedMediaType(
            f"content encoding {', '.join(refused)!r} is not accepted: send the image as it is, uncompressed",
            headers={"Accept-Encoding": "identity"},
        )


async def _read_body(request: Request, hard_limit: int, limit: int, pace: UploadPace) -> bytes:
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    began = last = loop.time()
    try:
        # one timer for the whole read, moved at every chunk to the nearer of its two limits: silence
        # since this chunk, and the average rate so far
        async with asyncio.timeout_at(began + pace.stall_s) as deadline:
            async for chunk in request.stream():
                last = loop.time()
                size += len(chunk)
                deadline.reschedule(min(last + pace.stall_s, pace.end_by(began, size)))
                if size > hard_limit:
                    raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
                if chunk:  # starlette ends the stream with b""
                    chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedRequest(f"the client closed the connection after {size} bytes") from None
    except TimeoutError:
        if last + pace.stall_s <= pace.end_by(began, size):
            why = f"the upload stalled: nothing arrived for {pace.stall_s:g} s after {size} bytes"
        else:
            why = (
                f"the upload is too slow: {size} bytes in {loop.time() - began:.1f} s; after its first "
                f"{pace.stall_s:g} s it must average at least {pace.min_bytes_per_s:g} bytes/s"
            )
        # the rest of the body would be read as a new request
        raise RequestTimeout(why, headers={"Connection": "close"}) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one copy at most


@dataclass
class _PartState:
    """The multipart parser's callbacks' memory: the header being read, and the target part's data."""

    header: bytes = b""
    value: bytes = b""
    is_target: bool = False
    parts: list[bytes] = field(default_factory=list)
    count: int = 0  # parts begun
    found: bytes | None = None


class _Found(Exception):
    """The target field is read: the parser need not go through the rest of the body."""


def _multipart_field(boundary: bytes, body: bytes, name: str) -> bytes:
    state = _PartState()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.value += data[start:end]

    def on_header_end() -> None:
        if state.header.lower() == b"content-disposition":
            _, disposition = parse_options_header(state.value)
            state.is_target = disposition.get(b"name") == name.encode()
        state.header, state.value = b"", b""

    def on_part_begin() -> None:
        state.is_target, state.parts = False, []
        state.count += 1
        if state.count > MAX_PARTS:
            raise ValueError(f"more than {MAX_PARTS} parts")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.is_target:
            state.parts.append(data[start:end])

    def on_part_end() -> None:
        if state.is_target:
            state.found = b"".join(state.parts)
            raise _Found

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except _Found:
        assert state.found is not None
        return state.found
    except Exception as exc:  # python-multipart raises its own error types for malformed bodies
        raise MissingImage(f"malformed multipart body: {exc}") from exc
    if state.is_target:  # the field began but its closing boundary never came: the upload was cut off
        raise MissingImage(f"the multipart body ends inside the field '{name}': it was cut off")
    raise MissingImage(f"the multipart body has no field '{name}'")
