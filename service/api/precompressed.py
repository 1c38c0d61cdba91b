"""Content-Encoding for the page's big static files, compressed once at build time: a file `x` may have
siblings `x.br` and `x.gz` (written by `web/build.mjs` for the page and onnxruntime-web's wasm, and by
the model build for the ONNX files). Nothing is compressed per request: a 10 MB wasm would cost a
core for a second each time.

The sibling is chosen by the request's Accept-Encoding (q-values honoured; on a tie brotli, the
smaller); a sibling older than its file is stale and never served, nor one that is not a regular file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

# server preference on equal q: smallest first
SIBLINGS = (("br", ".br"), ("gzip", ".gz"))


@dataclass(frozen=True)
class Representation:
    path: Path  # the file to send
    encoding: str | None  # its Content-Encoding; None: the file itself
    negotiated: bool  # another encoding of the same file exists: caches must key on Accept-Encoding


def accepted_codings(accept_encoding: str | None) -> dict[str, float]:
    """`gzip, deflate, br;q=0.9` -> {"gzip": 1.0, "deflate": 1.0, "br": 0.9}; malformed q counts as 0."""
    codings: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        codings[name] = q
    return codings


def choose(path: Path, accept_encoding: str | None) -> Representation:
    codings = accepted_codings(accept_encoding)
    wildcard = codings.get("*", 0.0)
    mtime = path.stat().st_mtime_ns
    best: tuple[float, Path, str] | None = None
    negotiated = False
    for encoding, suffix in SIBLINGS:
        sibling = path.with_name(path.name + suffix)
        try:
            stat = sibling.lstat()
        except OSError:  # none (or the name with its suffix is too long for the filesystem)
            continue
        # a regular file only (the caller checked that `path` stays in its folder, not its siblings: a
        # symlink could lead out of it; a directory cannot be sent), and not stale: not older than `path`
        if not S_ISREG(stat.st_mode) or stat.st_mtime_ns < mtime:
            continue
        negotiated = True
        q = codings.get(encoding, wildcard)
        if q > 0 and (best is None or q > best[0]):
            best = (q, sibling, encoding)
    if best is None:
        return Representation(path, None, negotiated)
    return Representation(best[1], best[2], negotiated)
