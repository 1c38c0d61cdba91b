"""uvicorn's h11 protocol, answering HTTP it cannot parse with a JSON 400, and
giving a connection that has had no request yet a moment for one when the server shuts down."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.first_request_grace import FirstRequestGrace
from service.api.malformed_http import JsonBadRequest


class JsonH11Protocol(JsonBadRequest, FirstRequestGrace, H11Protocol):
    pass
