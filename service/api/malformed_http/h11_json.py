"""uvicorn's h11 protocol, answering HTTP it cannot parse with a JSON 400, and
giving a connection that has had no request yet a moment for one when the server shuts down."""

from __future__ import annotations

from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.first_request_grace import FirstRequestGrace
from service.api.malformed_http import JsonBadRequest


class _ClosingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, whose answer to a request under way when the shutdown reaches its
    connection says `Connection: close`, as uvicorn's httptools protocol's does: uvicorn closes the
    connection after it either way, and h11's cycle adds the header only when the request asked for it,
    so a client told nothing took the connection for one to reuse (a request that came in the first
    request grace, service/api/first_request_grace.py, among them)."""

    def shutdown(self) -> None:
        super().shutdown()
        cycle = self.cycle
        if cycle is not None and not cycle.keep_alive and not cycle.response_started:
            # this cycle's list: the server's default headers, which every connection shares, stay as
            # they are; h11 then knows the connection ends with this answer, and writes the header once
            cycle.default_headers = [*cycle.default_headers, CLOSE_HEADER]


class JsonH11Protocol(JsonBadRequest, FirstRequestGrace, _ClosingH11Protocol):
    pass
