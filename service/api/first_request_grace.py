"""A connection the server accepted just before it stopped accepting, whose request has not arrived (or
not whole): uvicorn's graceful shutdown closed it at once, as an idle keep-alive connection, and its
client saw the connection closed without an answer (httpx: "Server disconnected without sending a
response"). On a SIGHUP rolling restart each old process's shutdown could drop one so (1 run in 18 of
tests/test_workers.py's restart test), and so could a SIGTERM's once its drain delay was over. Such a
connection now has until MVA_FIRST_REQUEST_GRACE_S (1 s) after it was accepted to send its request's
head, which is then answered with `Connection: close` and the connection closed after it."""

from __future__ import annotations

import asyncio
from typing import Any

from service.settings import FIRST_REQUEST_GRACE_S

# how long after its acceptance a connection may take to send its first request's head when the server
# shuts down; one that sends nothing meanwhile is closed then. Counted from the acceptance, so that
# connections opened long before (a browser's preconnect, a proxy's pool) hold the shutdown up no longer.
# MVA_FIRST_REQUEST_GRACE_S: the app puts it in the lifespan's state under GRACE_KEY
GRACE_KEY = "mva_first_request_grace_s"


class FirstRequestGrace:
    """Mixed into uvicorn's protocols (service/api/malformed_http), before them."""

    loop: asyncio.AbstractEventLoop
    app_state: dict[str, Any]  # the lifespan's state (uvicorn gives it to every protocol)
    cycle: Any  # uvicorn's request-response cycle: None until a request's head has been parsed
    _accepted_at = 0.0
    _grace: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._accepted_at = self.loop.time()
        super().connection_made(transport)  # type: ignore[misc]  # the protocol this is mixed into has it

    def shutdown(self) -> None:
        """uvicorn's server calls it on each open connection as its shutdown begins."""
        grace_s: float = self.app_state.get(GRACE_KEY, FIRST_REQUEST_GRACE_S)  # the default: lifespan off
        left = self._accepted_at + grace_s - self.loop.time()
        if self.cycle is None and left > 0:  # no request on it yet, and it is new: one is likely coming
            self._grace = self.loop.call_later(left, self._shut_down_now)
            return
        self._shut_down_now()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._grace is not None and self.cycle is not None:
            # its request came: uvicorn's shutdown now, before the request runs, so that its answer says
            # `Connection: close` and the connection closes after it (a client would reuse it otherwise,
            # and the grace's end would close it under a second request)
            self._shut_down_now()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_grace()
        super().connection_lost(exc)  # type: ignore[misc]

    def _shut_down_now(self) -> None:
        self._end_grace()
        # uvicorn's: closed if no request is under way, else closed once its response is sent
        super().shutdown()  # type: ignore[misc]

    def _end_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
