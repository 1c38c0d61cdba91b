from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.api.precompressed import accepted_codings, choose


def test_accept_encoding_is_parsed_with_q_values() -> None:
    assert accepted_codings("gzip, deflate, br;q=0.9, zstd;q=0") == {
        "gzip": 1.0,
        "deflate": 1.0,
        "br": 0.9,
        "zstd": 0.0,
    }
    assert accepted_codings("GZIP ; q=0.5, *;q=0.1") == {"gzip": 0.5, "*": 0.1}
    assert accepted_codings("br;q=high") == {"br": 0.0}
    assert accepted_codings(None) == accepted_codings("") == {}


@pytest.fixture
def wasm(tmp_path: Path) -> Path:
    path = tmp_path / "a.wasm"
    for name in ("a.wasm", "a.wasm.br", "a.wasm.gz"):
        (tmp_path / name).write_bytes(name.encode())
    return path


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br, zstd", "br"),  # equal q: brotli, the smaller
        ("br;q=0.5, gzip", "gzip"),  # the client's preference wins
        ("gzip", "gzip"),
        ("*", "br"),
        ("br;q=0, *", "gzip"),
        ("identity", None),
        (None, None),
    ],
)
def test_the_copy_follows_accept_encoding(wasm: Path, accept: str | None, encoding: str | None) -> None:
    chosen = choose(wasm, accept)
    assert chosen.encoding == encoding
    assert chosen.path.name == {"br": "a.wasm.br", "gzip": "a.wasm.gz", None: "a.wasm"}[encoding]
    assert chosen.negotiated


def test_a_copy_older_than_its_file_is_never_sent(wasm: Path) -> None:
    brotli_copy = wasm.with_name("a.wasm.br")
    newer = wasm.stat().st_mtime_ns + 1_000_000_000
    os.utime(wasm, ns=(newer, newer))  # the file was rebuilt after its copies were made
    os.utime(wasm.with_name("a.wasm.gz"), ns=(newer, newer))
    assert choose(wasm, "br, gzip").encoding == "gzip"
    brotli_copy.unlink()
    os.utime(wasm.with_name("a.wasm.gz"), ns=(newer - 5, newer - 5))
    chosen = choose(wasm, "br, gzip")
    assert chosen.encoding is None and not chosen.negotiated


def test_no_copies_no_negotiation(tmp_path: Path) -> None:
    path = tmp_path / "small.mjs"
    path.write_text("export {};")
    chosen = choose(path, "br, gzip")
    assert (chosen.path, chosen.encoding, chosen.negotiated) == (path, None, False)
