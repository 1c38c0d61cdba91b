"""uvicorn's httptools protocol, answering HTTP it cannot parse with a JSON 400, and
giving a connection that has had no request yet a moment for one when the server shuts down."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.first_request_grace import FirstRequestGrace
from service.api.malformed_http import JsonBadRequest


class JsonHttpToolsProtocol(JsonBadRequest, FirstRequestGrace, HttpToolsProtocol):
    pass
