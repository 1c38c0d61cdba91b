"""A connection the server accepted just before it stopped accepting, whose request has not arrived (or
not whole): uvicorn's graceful shutdown closed it at once, as an idle keep-alive connection, and its
client saw the connection closed without an answer (httpx: "Server disconnected without sending a
response"). On a SIGHUP rolling restart each old process's shutdown could drop one so (1 run in 18 of
tests/test_workers.py's restart test), and so could a SIGTERM's once its drain delay was over. Such a
connection now has a moment for its first request, which is then answered and the connection closed."""

from __future__ import annotations

import asyncio
from typing import Any

# as long as a client that has just connected may take to send its request's head; one that sends
# nothing meanwhile is closed then
FIRST_REQUEST_GRACE_S = 1.0


class FirstRequestGrace:
    """Mixed into uvicorn's protocols (service/api/malformed_http), before them."""

    loop: asyncio.AbstractEventLoop
    cycle: Any  # uvicorn's request-response cycle: None until a request's head has been parsed

    def shutdown(self) -> None:
        """uvicorn's server calls it on each open connection as its shutdown begins."""
        if self.cycle is None:  # never a request on it: too new to be idle
            self.loop.call_later(FIRST_REQUEST_GRACE_S, self._shut_down_now)
            return
        self._shut_down_now()

    def _shut_down_now(self) -> None:
        # uvicorn's: closed if no request is under way, else closed once its response is sent
        super().shutdown()  # type: ignore[misc]  # the protocol this is mixed into has it
