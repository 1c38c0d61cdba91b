"""uvicorn's h11 protocol, answering HTTP it cannot parse with a JSON 400."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.malformed_http import JsonBadRequest


class JsonH11Protocol(JsonBadRequest, H11Protocol):
    pass
