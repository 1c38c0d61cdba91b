"""A gzip copy beside each ONNX file the browser page downloads (`<precision>.onnx.gz`), made once at
build time and sent by the service to clients that accept gzip (service/api/precompressed.py). The
int8 file shrinks ~25 %, fp32 (dequantized uint8 weights: few distinct values) ~70 %."""

from __future__ import annotations

import gzip
from pathlib import Path


def write_gzip_copy(path: Path) -> Path:
    """`path` -> `path.gz`, reproducible (no name or time in the header)."""
    out = path.with_name(path.name + ".gz")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
    tmp.replace(out)
    return out
