"""A pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware): names the
replica that answered, gives every response its request ID and, once the response is sent, counts the
request by route template and status, observes the stage histograms of an inference request (the
figures its handler put in `request.state.stage_timing`) and writes the access log line when that is on
(service/api/access_log.py)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.access_log import HEADER, AccessLog, request_id
from service.api.metrics import Metrics

# the replica that answered (MVA_REPLICA), on every answer: those of the app here, and the 400s
# uvicorn's protocols send for HTTP they cannot parse (service/api/malformed_http/)
SERVED_BY = b"x-served-by"


class RequestMetrics:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, replica: str, access_log: AccessLog | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.replica = replica.encode()
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid  # request.state.request_id, for error logs
        status = 500
        bytes_out = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (SERVED_BY, self.replica),
                    (HEADER, rid.encode()),
                ]
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # after the response is sent: the client does not wait for the bookkeeping
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.count_request(route, status)
            timing = scope["state"].get("stage_timing")
            if timing is not None:
                self.metrics.observe_timing(route, timing)
            if self.access_log is not None:
                self.access_log.write(scope, rid, route, status, started, bytes_out)
