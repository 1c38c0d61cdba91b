"""Request IDs and the access log. Every response carries `X-Request-ID`: the caller's (nginx sets one
per request, `$request_id`) when it is a sane token, else a new one, so a line in the balancer's log, the
API's log and a client's error report name the same request. With MVA_ACCESS_LOG=true each request
(one uvicorn could not parse too: service/api/malformed_http/) also writes one JSON line to stdout
after its response is sent, at most 0.1 s later (lines are written in batches; a process killed with
SIGKILL loses the last 0.1 s). Off by default: the latency lab measures without it; the compose and
Kubernetes examples turn it on."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import random
import re
import secrets
import sys
import time

from starlette.types import Scope

from service.api.headers import field, request_headers
from service.logs import utc_timestamp

# probes and scrapes come every few seconds from every balancer, kubelet and Prometheus: logged only
# when they fail
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
HEADER = b"x-request-id"
# what may be echoed and logged: no spaces, quotes or control characters (log and header injection)
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# request IDs need to be unique, not secret: a generator seeded once per process from the OS, because
# secrets.token_hex reads os.urandom, whose getrandom call releases the GIL on every request, and the
# event loop then has to win it back from the inference threads
_ids = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _ids.seed(secrets.randbits(128)))  # no twin IDs after a fork


def request_id(scope: Scope) -> str:
    value = field(request_headers(scope), HEADER.decode())
    if value is not None and _SANE.fullmatch(value):
        return value
    return new_request_id()


def new_request_id() -> str:
    """A request ID of this process's own, for a request that brings none (or none sane)."""
    return f"{_ids.getrandbits(64):016x}"


class AccessLog:
    """One JSON object per line on stdout. The lines of FLUSH_S are written together, by one call on the
    event loop (scheduled by the first of them) and at exit: a write gives up the GIL, which the loop
    then has to win back from the inference threads, and one write per request cost a few per cent of
    the throughput under load (README, Levers tried). A line is on stdout at most FLUSH_S late."""

    FLUSH_S = 0.1

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self._lines: list[str] = []
        atexit.register(self.flush)

    def flush(self) -> None:
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            sys.stdout.write(text)
            sys.stdout.flush()

    def write(self, scope: Scope, rid: str, route: str, status: int, started: float, bytes_out: int) -> None:
        if route in QUIET_ROUTES and status < 400:
            return
        client = scope.get("client")
        self._append(
            {
                "request_id": rid,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode("latin-1"),
                "route": route,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 3),
                "bytes_out": bytes_out,
                "client": client[0] if client else None,
            }
        )

    def write_unparsed(self, rid: str, client: str | None, bytes_out: int) -> None:
        """A request uvicorn could not parse, answered 400 before the app saw it
        (service/api/malformed_http/): nothing of it is known but who sent it, so its method, path,
        query, route and time are null."""
        self._append(
            {
                "request_id": rid,
                "method": None,
                "path": None,
                "query": None,
                "route": None,
                "status": 400,
                "ms": None,
                "bytes_out": bytes_out,
                "client": client,
            }
        )

    def _append(self, fields: dict[str, object]) -> None:
        """One line: `time`, `fields`, `replica`. Each writer lists the same fields in the same order (one
        shape of line, whatever wrote it)."""
        line = {"time": utc_timestamp(time.time()), **fields, "replica": self.replica}
        self._lines.append(json.dumps(line, separators=(",", ":")))
        if len(self._lines) == 1:
            asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)
