"""Files for the browser page: the right MIME type, cross-origin isolation (onnxruntime-web's threads
need SharedArrayBuffer), a content security policy, validators (ETag, Last-Modified -> 304) so a
returning visitor does not download the wasm binaries and models again, the build's brotli / gzip
copies for a new one (service/api/precompressed.py), and byte ranges (service/api/ranges.py)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from service.api.errors import error_response
from service.api.headers import field, list_header
from service.api.precompressed import Representation, choose
from service.api.ranges import MAX_RANGES, ByteRange, RangeAnswer, answer_to

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

# 'wasm-unsafe-eval' lets WebAssembly compile; the threaded wasm starts its pthreads as blob: workers
# that importScripts() a blob: copy of the glue code, hence blob: for scripts and workers;
# mediastream: is the webcam. Nothing comes from another origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval' blob:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "style-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

# Revalidate every time: a rebuilt model or page must never be served stale; 304 keeps it cheap.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class FileVersion:
    """What one request says of a file, all from a single stat of one open file: its size (Content-Length,
    the Range answer), mtime (Last-Modified, If-Modified-Since) and ETag. A rebuild renames a new file
    over the path: separate stats could give the ETag of one version and the size of another."""

    stat: os.stat_result
    etag: str


class ETags:
    """Strong ETags (content SHA-256), computed once per file version: path, and the file's device, inode,
    size and mtime. The inode tells a rebuild renamed over the path from the old file even when size and
    mtime agree (a copy that keeps mtimes, or a rebuild within the timestamp granularity)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int, int, int], str]] = {}
        self._lock = threading.Lock()

    def of(self, path: Path, file: BinaryIO) -> FileVersion:
        """`file`: `path` opened; its fstat, not the path's: the bytes hashed are the version stat-ed."""
        stat = os.fstat(file.fileno())
        version = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == version:
            return FileVersion(stat, cached[1])
        digest = hashlib.sha256()
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
        etag = _etag(digest)
        with self._lock:
            self._cache[path] = (version, etag)
        return FileVersion(stat, etag)


def content_etag(data: bytes) -> str:
    """A strong ETag for `data` served from memory, made as a file's (ETags)."""
    return _etag(hashlib.sha256(data))


def _etag(digest: hashlib._Hash) -> str:
    return f'"{digest.hexdigest()[:32]}"'


def open_version(path: Path, etags: ETags) -> tuple[BinaryIO, FileVersion]:
    """`path` opened, and what its headers say of it. The caller closes the file: it is the one the body
    is sent from, whatever a rebuild renames over the path meanwhile."""
    file = path.open("rb")
    try:
        return file, etags.of(path, file)
    except BaseException:
        file.close()
        raise


def _tags(header: str, weak: bool) -> set[str]:
    """An If-Match / If-None-Match list's entity tags; `weak`: compared weakly (a W/ tag as its strong
    twin, RFC 9110 8.8.3.2), else as written (a W/ tag then never equals a strong ETag)."""
    tags = {tag.strip() for tag in header.split(",")}
    return {tag.removeprefix("W/") for tag in tags} if weak else tags


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = _tags(if_none_match, weak=True)
    return "*" in candidates or etag in candidates


def precondition_failed(request: Request, version: FileVersion) -> bool:
    """RFC 9110 13.2.2 steps 1-2, which an origin server MUST evaluate (13.1.1, 13.1.4): If-Match when
    the request has one (strong comparison: a weak tag never matches), else If-Unmodified-Since. A
    client resuming with If-Match rather than If-Range got a range of the new version to splice."""
    if_match = list_header(request.headers, "if-match")
    if if_match is not None:
        candidates = _tags(if_match, weak=False)
        return "*" not in candidates and version.etag not in candidates
    since = _http_date(request.headers.get("if-unmodified-since"))
    return since is not None and int(version.stat.st_mtime) > since


def not_modified(request: Request, version: FileVersion) -> bool:
    """RFC 9110 13.2.2: If-None-Match when the request has one (If-Modified-Since is then ignored),
    else If-Modified-Since against the Last-Modified FileResponse sends (the mtime, whole seconds): a
    client or cache that kept only that validator revalidates too."""
    if_none_match = list_header(request.headers, "if-none-match")
    if if_none_match is not None:
        return matches(if_none_match, version.etag)
    since = _http_date(request.headers.get("if-modified-since"))
    return since is not None and int(version.stat.st_mtime) <= since


def _http_date(value: str | None) -> float | None:
    """Seconds since the epoch, or None for a missing or invalid date (which RFC 9110 13.1.3 says to
    ignore)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are UTC whatever they say
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


async def file_response(request: Request, path: Path, etags: ETags) -> Response:
    """`path` must already be known to be a file inside an allowed folder (one deleted since is a JSON
    404 not_found). The first ETag of a file hashes it (10 MB of wasm): off the event loop. Each
    encoding is its own representation, with its own ETag (the hash of the bytes sent)."""
    try:
        chosen = choose(path, list_header(request.headers, "accept-encoding"))
        file, version = await asyncio.to_thread(open_version, chosen.path, etags)
    except FileNotFoundError:
        # deleted since the caller found it (web/build.mjs starts by removing the whole folder): as
        # missing as a file never built, not a 500
        return error_response(404, "not_found", f"no file {path.name!r} (deleted by a rebuild?)", "path")
    try:
        response = _answer(request, path, chosen, file, version)
    except BaseException:
        file.close()
        raise
    if not isinstance(response, RangesResponse):
        file.close()  # a 304, 412 or 416: no body from it (a response with one closes it once sent)
    return response


def _answer(
    request: Request, path: Path, chosen: Representation, file: BinaryIO, version: FileVersion
) -> Response:
    headers = {
        **ISOLATION_HEADERS,
        "ETag": version.etag,
        "Cache-Control": CACHE_CONTROL,
    }
    if chosen.negotiated:
        headers["Vary"] = "Accept-Encoding"
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    if media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if precondition_failed(request, version):
        message = "the file is not the version If-Match or If-Unmodified-Since names"
        return error_response(412, "precondition_failed", message, headers=headers)
    if not_modified(request, version):
        return Response(status_code=304, headers=headers)
    ranges = None  # no Range to answer: the whole file
    range_header = request.headers.get("range")
    if range_header is not None:
        size = version.stat.st_size
        answer = answer_to(range_header, size, field(request.headers, "if-range"), version.etag)
        if answer is RangeAnswer.UNSATISFIABLE:
            message = f"no range asked for is in the file of {size} bytes"
            headers["Content-Range"] = f"bytes */{size}"  # RFC 9110 15.5.17: the size to ask within
            return error_response(416, "range_not_satisfiable", message, "range", headers)
        if isinstance(answer, list):
            ranges = answer
    if chosen.encoding is not None:
        headers["Content-Encoding"] = chosen.encoding
    # our stat and our open file, not FileResponse's own stat and open of the path: Content-Length,
    # Last-Modified, the ranges and the bytes sent are all of the version the ETag names
    return RangesResponse(file, chosen.path, ranges, headers, media_type, version.stat)


class RangesResponse(FileResponse):
    """The file, whole (`ranges` None) or the ranges service/api/ranges.py decided on, read from `file`,
    the open file the headers describe, which it closes once sent (or the client gone, or sending
    failed). FileResponse opened the path again to read the bytes: a rebuild renaming another version
    over it (web/build.mjs and the model build do) meanwhile sent that one's bytes under this one's
    Content-Length, cut short or too long, a broken HTTP answer.

    FileResponse reads the request's Range and If-Range itself: it gets no If-Range (ours was checked
    against the ETag) and our ranges written as the Range header it parses back to the very same ones
    (sorted, apart, in the file, no more than its max_ranges). On the client's own it answered a header
    it cannot use with a plain-text 400, and more than max_ranges list elements, even empty or repeated
    ones, with the whole file."""

    max_ranges = MAX_RANGES

    def __init__(
        self,
        file: BinaryIO,
        path: Path,
        ranges: list[ByteRange] | None,
        headers: dict[str, str],
        media_type: str,
        stat_result: os.stat_result,
    ) -> None:
        super().__init__(path, headers=headers, media_type=media_type, stat_result=stat_result)
        self.file = anyio.wrap_file(file)
        spans = ",".join(f"{start}-{end - 1}" for start, end in ranges or ())
        self.range_header = f"bytes={spans}".encode("latin-1") if ranges else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name not in (b"range", b"if-range")]
        if self.range_header is not None:
            headers.append((b"range", self.range_header))
        # no http.response.pathsend: with it the server opens the path itself, whatever version is there
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        try:
            await super().__call__({**scope, "headers": headers, "extensions": extensions}, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # closing must finish even when the transfer is cancelled
                await self.file.aclose()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        # FileResponse's one way to the bytes (starlette 1.10, pinned), whole file, one range or several:
        # the file already open (the ETag's hash read it to the end; a range seeks anyway). __call__
        # closes it, HEAD included. tests/api/test_static.py's rebuilds fail if this stops being the way.
        await self.file.seek(0)
        yield self.file


def inside(folder: Path, relative: str) -> Path | None:
    """`folder/relative` if it is an existing file under `folder` (no `..`, no symlink escapes) and no
    part of its path in there is hidden: a build never writes dotfiles, while a `.env` or `.git` left in
    the folder would be a secret or the sources."""
    root = folder.resolve()
    try:
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
    except (ValueError, OSError):  # a NUL byte in the URL, a name or path too long for the filesystem
        return None
    if any(part.startswith(".") for part in candidate.relative_to(root).parts):
        return None
    return candidate
