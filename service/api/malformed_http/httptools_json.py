"""uvicorn's httptools protocol, answering HTTP it cannot parse with a JSON 400."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.malformed_http import JsonBadRequest


class JsonHttpToolsProtocol(JsonBadRequest, HttpToolsProtocol):
    pass
