"""A bound on the uploads being read at once, per process. Each may hold up to MVA_MAX_UPLOAD_BYTES
(10 MiB by default) until it is whole, and a slow sender holds its share until then, or until it is
too slow (service/api/upload.py's UploadPace): a thousand of them held gigabytes. Past the bound the
next upload is refused before a byte of its body is read, with the same 503 `overloaded` and
Retry-After as a full queue.

uvicorn's own `limit_concurrency` is not this lever: it counts open connections, the idle keep-alive
ones a proxy pools too, and answers a plain-text 503 with `Connection: close` before the app runs
(closing on a body of declared length unread resets the connection: service/api/unread_body.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import Overloaded


class UploadSlots:
    def __init__(self, limit: int, retry_after: str) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.reading = 0  # touched only on the event loop thread

    @contextmanager
    def hold(self) -> Iterator[None]:
        """One upload being read for as long as the block runs; Overloaded when `limit` already are."""
        if self.reading >= self.limit:
            raise Overloaded(
                f"uploads being read at once: {self.reading} (limit {self.limit}); retry later",
                headers={"Retry-After": self.retry_after},
            )
        self.reading += 1
        try:
            yield
        finally:
            self.reading -= 1
