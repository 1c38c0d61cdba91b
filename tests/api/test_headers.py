"""A list header sent on several lines is read as one list, in order (HTTP-level: tests/api/test_web.py)."""

from __future__ import annotations

from starlette.datastructures import Headers

from service.api.headers import field, has_a_body, list_header, request_headers


def test_every_line_of_a_list_header_is_kept_in_order() -> None:
    headers = Headers(
        raw=[(b"accept", b"application/json;q=0.1"), (b"x-other", b"1"), (b"accept", b"image/png")]
    )
    assert list_header(headers, "accept") == "application/json;q=0.1, image/png"
    assert list_header(headers, "Accept") == "application/json;q=0.1, image/png"
    assert list_header(headers, "if-match") is None


def test_a_field_is_its_first_line_without_the_whitespace_around_it() -> None:
    headers = Headers(raw=[(b"if-range", b'"v1" \t'), (b"if-range", b'"v2"'), (b"x-api-key", b"\t")])
    assert field(headers, "If-Range") == '"v1"'
    assert field(headers, "x-api-key") == ""
    assert field(headers, "range") is None


def test_a_body_follows_when_chunked_or_of_a_length_other_than_0() -> None:
    def head(*lines: tuple[bytes, bytes]) -> Headers:
        return Headers(raw=list(lines))

    assert has_a_body(head((b"transfer-encoding", b"chunked")))
    assert has_a_body(head((b"content-length", b"12 ")))
    assert not has_a_body(head((b"content-length", b"0 \t")))
    assert not has_a_body(head((b"host", b"x")))


def test_a_scope_s_headers_are_read_in_place() -> None:
    """A middleware's view of the request's headers: the scope's own list, not a copy of it."""
    raw = [(b"expect", b"100-continue"), (b"content-length", b"12")]
    scope = {"type": "http", "headers": raw}
    headers = request_headers(scope)
    assert scope["headers"] is raw and headers.raw == raw
    assert list_header(headers, "expect") == "100-continue" and has_a_body(headers)
    assert field(request_headers({"headers": iter([(b"host", b"x ")])}), "host") == "x"  # any iterable
