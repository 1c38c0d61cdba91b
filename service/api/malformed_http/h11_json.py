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
    request grace, service/api/first_request_grace.py, among them). Said once, also when the app's own
    answer says it (service/api/unread_body.py, upload.py's 408)."""

    def shutdown(self) -> None:
        super().shutdown()
        cycle = self.cycle
        if cycle is not None and not cycle.keep_alive and not cycle.response_started:
            # as if the request had asked for the close: the cycle then adds the header to the answer
            # unless the answer has it (uvicorn's h11_impl, RequestResponseCycle.send). A copy for this
            # cycle: the list is the protocol's, and an app already running holds the scope it got; one
            # not yet begun (a request that came in the grace, whose app runs on the loop's next step)
            # gets this copy, and sees the header as its request's
            cycle.scope = {**cycle.scope, "headers": [*cycle.scope["headers"], CLOSE_HEADER]}


class JsonH11Protocol(JsonBadRequest, FirstRequestGrace, _ClosingH11Protocol):
    pass
